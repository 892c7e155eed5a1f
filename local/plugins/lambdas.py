"""Lambda and what invokes it: the functions in-process, API Gateway, and the triggers
that stand in for S3 notifications and the DynamoDB stream."""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from typing import Any, Protocol

import boto3

from functions.catalog import Function, S3Trigger, ScheduleTrigger, StreamTrigger, by_name
from local.gateway import Gateway, HttpResponse
from local.metric_store import local_scale
from local.moto_stack import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from local.plugins import LocalRequest, StackContext, StandIn
from local.plugins.aws import MotoPlugin
from local.plugins.observability import FaultsPlugin, MetricsPlugin
from local.runtime import LocalLambda, Resolver, WaitClock, acting_as
from local.triggers import (
    DEFAULT_ASYNC_RETRIES,
    S3Dispatcher,
    Schedule,
    SendFailure,
    StreamMapping,
    StreamPoller,
    rate_seconds,
)


class EnvironmentSource(Protocol):
    def environment(self) -> dict[str, str]:
        """Variables the functions need to reach this stand-in."""


class FunctionsPlugin(StandIn):
    """The catalog's functions, in this process, with the environment the program gave
    them, pointed at moto and at the stand-ins in `sources`."""

    name = "functions"
    functions: LocalLambda

    def __init__(
        self,
        moto: MotoPlugin,
        metrics: MetricsPlugin,
        faults: FaultsPlugin,
        resolve: Resolver | None,
        sources: tuple[EnvironmentSource, ...],
    ):
        super().__init__()
        self._moto, self._metrics, self._faults = moto, metrics, faults
        self._resolve, self._sources = resolve, sources

    def setup(self, context: StackContext, undo: ExitStack) -> None:
        env = self._function_environment()
        standins: dict[str, str] = {}
        for source in self._sources:
            standins.update(source.environment())
        env.update(standins)
        # The process's environment is the SDK's (boto3 is shared). Each function's modules
        # see only the variables the program gives that function, the runtime's (region,
        # credentials, the endpoint of moto) and the stand-ins' re-pointing of what is
        # outside AWS (identity providers' keys, the stores), which no program sets.
        runtime = {k: env[k] for k in env if k.startswith("AWS_") or k == "POWERTOOLS_TRACE_DISABLED"}
        variables = {name: {**own, **runtime, **standins} for name, own in self._own_variables().items()}
        undo.callback(_restore_environment, _set_environment(env))
        # A new deployment. The functions' SDK clients come from boto3's default session,
        # which keeps the credentials it resolved first (an earlier stack's, or a test's):
        # it gets this environment's. Not a new session: tests and stand-ins hook this one.
        boto3._get_default_session()._session.set_credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
        # The environments share third-party modules, and the process function hides
        # Pillow from sys.modules while it first imports pypdf (a cold-start saving that
        # holds for one event at a time per process): both are loaded here, before any
        # function runs in a thread, so no photo job sees Pillow hidden by a PDF job.
        importlib.import_module("pypdf")
        importlib.import_module("PIL.Image")
        program, telemetry = self._moto.program, self._metrics.telemetry
        bedrock = {fn.name for fn in context.catalog if fn.access.bedrock}
        faults, region = self._faults.faults, self._moto.region

        def prepare(function: str, import_module: Callable[[str], Any]) -> None:
            # Bedrock is out of reach locally: in each execution environment of a function
            # that calls it, the offline analyser answers instead, loaded into that
            # environment (the errors it raises are that copy's), with the faults.
            if function in bedrock:
                import_module("local.offline").install()
                faults.wrap_model(import_module("local.offline.provider").OfflineProvider, region, telemetry.model_call)

        # What a function prints is its log stream: EMF lines become metrics there.
        self.functions = LocalLambda(
            by_name(context.catalog),
            program.outputs["functions"],
            region,
            program.mocks.account_id,
            self._resolve,
            observer=telemetry,
            waits=WaitClock(),
            output=lambda name, line: telemetry.emf_line(line, name),
            prepare=prepare,
            variables=variables,
        )
        undo.callback(self.functions.close)
        undo.callback(faults.unwrap_model)
        if self._resolve is not None and bedrock:  # shared modules: Bedrock's place back
            undo.callback(lambda: importlib.import_module("functions.process.providers").install(None))

    def _own_variables(self) -> dict[str, dict[str, str]]:
        """Each catalog function's environment variables, as the program deploys them."""
        physical = {v: k for k, v in self._moto.program.outputs["functions"].items()}
        return {
            physical[fn.inputs["name"]]: dict(fn.inputs.get("environment", {}).get("variables", {}))
            for fn in self._moto.program.mocks.of_type("aws:lambda/function:Function")
            if fn.inputs["name"] in physical
        }

    def _function_environment(self) -> dict[str, str]:
        """The union of the environments the program gave the functions, plus what points
        the AWS SDK at moto. All functions share this process, so a variable with two
        different values would be a real conflict: refuse to start."""
        region = self._moto.region
        env = {
            "AWS_ENDPOINT_URL": self._moto.endpoint_url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
        }
        merged: dict[str, str] = {}
        for fn in self._moto.program.mocks.of_type("aws:lambda/function:Function"):
            for key, value in fn.inputs.get("environment", {}).get("variables", {}).items():
                if merged.setdefault(key, value) != value:
                    raise RuntimeError(f"functions disagree on {key}: {merged[key]!r} vs {value!r}")
        return {**merged, **env}


def _set_environment(env: dict[str, str]) -> dict[str, str | None]:
    """Sets `env` and returns what it replaced."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    return saved


def _restore_environment(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class GatewayPlugin(StandIn):
    """API Gateway, validating with the document the program gives it. It answers every
    path outside /local/, so it declares no local routes: the server hands it the rest."""

    name = "gateway"
    gateway: Gateway

    def __init__(self, moto: MotoPlugin, functions: FunctionsPlugin, metrics: MetricsPlugin):
        super().__init__()
        self._moto, self._functions, self._metrics = moto, functions, metrics

    def setup(self, context: StackContext, undo: ExitStack) -> None:
        mocks = self._moto.program.mocks
        document = json.loads(mocks.one("aws:apigateway/restApi:RestApi").inputs["body"])
        self.gateway = Gateway(
            context.catalog,
            self._functions.functions,
            self._moto.region,
            mocks.account_id,
            document=document,
            metrics=self._metrics.telemetry,
        )

    def handle(self, request: LocalRequest) -> HttpResponse:
        return self.gateway.handle(request.method, request.path, request.query, request.headers, request.body)

    def template(self, path: str) -> str | None:
        return self.gateway.template(path)


class TriggersPlugin(StandIn):
    """S3 notifications and the DynamoDB stream, each with the settings the program
    deploys: the function's FunctionEventInvokeConfig and dead-letter queue, the stream's
    EventSourceMapping. Without `context.background` the caller polls (`poll_once`).
    `role_client_hook` sees each client made with a function's role before it is used.

    Schedules of rate(...) whose event names the public URL (the canary) are `schedules`:
    run in the background only with `run_schedules` (`make run`), so that tests decide when
    a synthetic journey adds its traffic (`schedules[name].poll_once()`). Cron schedules
    (compaction's daily run) have no stand-in: tests invoke those functions directly."""

    name = "triggers"

    def __init__(
        self,
        moto: MotoPlugin,
        functions: FunctionsPlugin,
        role_client_hook: Callable[[object], None] | None = None,
        run_schedules: bool = False,
    ):
        super().__init__()
        self._moto, self._functions, self._role_client_hook = moto, functions, role_client_hook
        self._run_schedules = run_schedules
        self.pollers: list = []
        self.schedules: dict[str, Schedule] = {}

    def setup(self, context: StackContext, undo: ExitStack) -> None:
        self.pollers = []
        for fn in context.catalog:
            poller = self._poller(fn)
            if poller is not None:
                undo.callback(poller.stop)
                self.pollers.append(poller)
        self.schedules = {}
        scale = local_scale(os.environ.get("SERENYA_LOCAL_PERIOD_S"))
        # Each rule's expression as the program declared it (a stack may set a schedule's rate).
        physical = self._moto.program.outputs["functions"]
        rules = {
            r.inputs["name"]: r.inputs["scheduleExpression"]
            for r in self._moto.program.mocks.of_type("aws:cloudwatch/eventRule:EventRule")
        }
        for fn in context.catalog:
            expression = rules.get(physical[fn.name]) if isinstance(fn.trigger, ScheduleTrigger) else None
            period = rate_seconds(expression) if expression else None
            if isinstance(fn.trigger, ScheduleTrigger) and fn.trigger.public_url and period:
                # The URL clients reach the stack at, as the deployed schedule names the stack's.
                event = {"public_url": context.public_url}
                self.schedules[fn.name] = Schedule(fn.name, self._functions.functions, event, period * scale)
                undo.callback(self.schedules[fn.name].stop)
        if context.background:
            for poller in self.pollers:
                poller.start()
            if self._run_schedules:
                for schedule in self.schedules.values():
                    schedule.start()

    def _poller(self, fn: Function):
        outputs, mocks, functions = self._moto.program.outputs, self._moto.program.mocks, self._functions.functions
        physical = outputs["functions"][fn.name]
        if isinstance(fn.trigger, S3Trigger):
            function = next(f for f in mocks.of_type("aws:lambda/function:Function") if f.inputs["name"] == physical)
            configs = [
                c
                for c in mocks.of_type("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
                if c.inputs["functionName"] == physical
            ]
            retries = int(configs[0].inputs["maximumRetryAttempts"]) if configs else DEFAULT_ASYNC_RETRIES
            return S3Dispatcher(
                self._moto.client("s3"),
                outputs["temp_bucket"],
                fn.trigger.prefix,
                fn.name,
                functions,
                self._moto.region,
                self._failure_sender(fn.name, function.inputs["deadLetterConfig"]["targetArn"]),
                retries,
            )
        if isinstance(fn.trigger, StreamTrigger):
            mapping = next(
                m
                for m in mocks.of_type("aws:lambda/eventSourceMapping:EventSourceMapping")
                if m.inputs["functionName"].split(":function:")[-1].split(":")[0] == physical
            )
            streams = self._role_client(self._moto.client("dynamodbstreams"))
            return StreamPoller(
                streams,
                mapping.inputs["eventSourceArn"],
                fn.name,
                StreamMapping.from_inputs(mapping.inputs),
                functions,
                self._failure_sender(fn.name, mapping.inputs["destinationConfig"]["onFailure"]["destinationArn"]),
                function_arn=mapping.inputs["functionName"],
            )
        return None  # schedules: `schedules` above

    def failure_queue_url(self, function: str) -> str:
        return self._moto.program.mocks.one("aws:sqs/queue:Queue", f"-{function}-failures").state["url"]

    def _failure_sender(self, function: str, queue_arn: str) -> SendFailure:
        """Lambda sends to a dead-letter queue or an on-failure destination with the
        function's execution role: the body and attributes local/triggers.py shapes."""
        sqs = self._role_client(self._moto.client("sqs"))
        url = next(
            q.state["url"]
            for q in self._moto.program.mocks.of_type("aws:sqs/queue:Queue")
            if q.state.get("arn") == queue_arn
        )

        def send(body: dict, attributes: Mapping[str, dict]) -> None:
            with acting_as(function):
                sqs.send_message(
                    QueueUrl=url,
                    MessageBody=json.dumps(body),
                    **({"MessageAttributes": dict(attributes)} if attributes else {}),
                )

        return send

    def _role_client(self, client):
        if self._role_client_hook:
            self._role_client_hook(client)
        return client
