"""`GET /local/health`: what the stack provisioned, and what failed in the background."""

from __future__ import annotations

from contextlib import ExitStack

from local.gateway import HttpResponse
from local.plugins import LocalRequest, Route, StackContext, StandIn, json_response
from local.plugins.aws import MotoPlugin
from local.plugins.lambdas import TriggersPlugin
from local.plugins.observability import AlarmsPlugin


class HealthPlugin(StandIn):
    name = "health"

    def __init__(self, moto: MotoPlugin, triggers: TriggersPlugin, alarms: AlarmsPlugin):
        super().__init__()
        self._moto, self._triggers, self._alarms = moto, triggers, alarms

    def setup(self, context: StackContext, undo: ExitStack) -> None:
        self._stack, self._public_url = context.stack, context.public_url

    def routes(self) -> tuple[Route, ...]:
        return (Route("GET", "/local/health", self._health),)

    def _health(self, _: LocalRequest) -> HttpResponse:
        o = self._moto.program.outputs
        return json_response(
            200,
            {
                "status": "ok",
                "stack": self._stack,
                "public_url": self._public_url,
                # moto, on loopback only: for tools on this machine (aws CLI, make queries);
                # the app needs only public_url, uploads included.
                "aws_endpoint_url": self._moto.endpoint_url,
                "resources": {
                    "table": o["table"],
                    "temp_bucket": o["temp_bucket"],
                    "events_bucket": o["events_bucket"],
                    "athena_results_bucket": o["athena_results_bucket"],
                    "data_key_arn": o["data_key_arn"],
                    "signing_key_arn": o["signing_key_arn"],
                    "secret_arn": o["secret_arn"],
                },
                "functions": sorted(o["functions"]),
                "trigger_failures": [
                    e for p in (*self._triggers.pollers, *self._triggers.schedules.values()) for e in p.errors
                ],
                "alarm_failures": self._alarms.failures(),
            },
        )
