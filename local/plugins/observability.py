"""CloudWatch and the means to test against it: the metrics the functions and services
record, the program's alarms evaluated on them, the dashboards drawn from them, and the
fault injector that makes the model, S3, DynamoDB or KMS fail.

SERENYA_LOCAL_PERIOD_S (read by the server's MetricStore, default 10) is how long a
300 s alarm period lasts locally."""

from __future__ import annotations

import threading
from contextlib import ExitStack

import boto3

from components.alarms import KMS_QUOTAS
from components.runbooks import COMPOSITE
from local import alarms as local_alarms
from local import faults as local_faults
from local.dashboards import Dashboards, bodies_of
from local.dashboards import routes as dashboard_routes
from local.gateway import HttpResponse, json_error
from local.metric_store import MetricStat, MetricStore
from local.plugins import LocalRequest, Route, StackContext, StandIn, json_response
from local.plugins.aws import MotoPlugin
from local.telemetry import StackFacts, Telemetry, detailed_methods

# SERVICE_QUOTA of each KMS usage metric: the lowest regional default of its quota
# (components/alarms.KMS_QUOTAS). The account's real quota is unknowable offline, and the
# lowest one makes the local kms quota alarms fire no later than the deployed ones.
KMS_USAGE_QUOTAS = {q.resource: q.lowest_default for q in KMS_QUOTAS}
TICKER_JOIN_S = 5


class MetricsPlugin(StandIn):
    """What CloudWatch would receive, into `store`: the SDK calls of the functions' default
    session (local/telemetry.py) and their Powertools EMF lines (local/emf.py)."""

    name = "metrics"
    telemetry: Telemetry

    def __init__(self, moto: MotoPlugin, store: MetricStore):
        super().__init__()
        self._moto, self.store = moto, store

    def setup(self, context: StackContext, undo: ExitStack) -> None:
        self.telemetry = Telemetry(self.store, self._facts(context))
        # The functions' SDK clients come from the default session, created later (the
        # functions' environment clears their caches): hook it before.
        self.telemetry.attach(boto3._get_default_session().events)
        undo.callback(self.telemetry.detach)

    def _facts(self, context: StackContext) -> StackFacts:
        """What the recorded metrics are named after: the program's API, stage, method
        settings, functions, failure queues and buckets."""
        program = self._moto.program
        mocks = program.mocks
        return StackFacts(
            api_name=mocks.one("aws:apigateway/restApi:RestApi").inputs["name"],
            stage=mocks.one("aws:apigateway/stage:Stage").inputs["stageName"],
            detailed_api_metrics=detailed_methods(mocks.of_type("aws:apigateway/methodSettings:MethodSettings")),
            log_groups={name: f"/aws/lambda/{physical}" for name, physical in program.outputs["functions"].items()},
            model_id=program.settings.bedrock_model_id if _uses_bedrock(context) else None,
            queues={q.inputs["name"]: q.state["url"] for q in mocks.of_type("aws:sqs/queue:Queue")},
            buckets=tuple(b.inputs["bucket"] for b in mocks.of_type("aws:s3/bucket:Bucket")),
        )


def _uses_bedrock(context: StackContext) -> bool:
    return any(fn.access.bedrock for fn in context.catalog)


class FaultsPlugin(StandIn):
    """`POST/DELETE /local/faults`: the model, S3, DynamoDB or KMS fail at a rate, for a while."""

    name = "faults"

    def __init__(self, moto: MotoPlugin, metrics: MetricsPlugin, seed: int):
        super().__init__()
        self._moto, self._metrics = moto, metrics
        self.faults = local_faults.Faults(seed=seed)

    def setup(self, context: StackContext, undo: ExitStack) -> None:
        self.faults.attach(boto3._get_default_session().events)
        undo.callback(self.faults.detach)

    def routes(self) -> tuple[Route, ...]:
        return (Route("POST", "/local/faults", self._set), Route("DELETE", "/local/faults", self._clear))

    def _set(self, request: LocalRequest) -> HttpResponse:
        try:
            body = request.json()
        except ValueError:
            return json_error(400, "invalid_json", "the body must be JSON", "local")
        try:
            target, rate, seconds = local_faults.validate(body)
        except local_faults.FaultRequestError as e:
            return json_error(400, e.code, str(e), "local")
        return json_response(200, {"faults": self.faults.set(target, rate, seconds)})

    def _clear(self, _: LocalRequest) -> HttpResponse:
        self.faults.clear()
        return HttpResponse(204, {}, b"")


class AlarmsPlugin(StandIn):
    """The program's alarms on the metric store, evaluated every CloudWatch minute
    (`context.background`) and on `GET /local/alarms`."""

    name = "alarms"
    alarms: local_alarms.AlarmEngine

    def __init__(self, moto: MotoPlugin, metrics: MetricsPlugin):
        super().__init__()
        self._moto, self._metrics = moto, metrics
        self.ticker_errors: list[str] = []  # failures of the background evaluation

    def setup(self, context: StackContext, undo: ExitStack) -> None:
        program, telemetry = self._moto.program, self._metrics.telemetry
        sqs, s3 = self._moto.client("sqs"), self._moto.client("s3")
        self.alarms = local_alarms.from_program(
            program.mocks.of_type,
            self._metrics.store,
            paging=program.settings.name(COMPOSITE),
            quota=service_quota,
            before_evaluation=lambda at: telemetry.sample(sqs, s3, at),
        )
        if context.background:
            stopping = threading.Event()
            ticker = threading.Thread(target=self._tick, args=(stopping,), name="alarms", daemon=True)
            ticker.start()
            undo.callback(ticker.join, TICKER_JOIN_S)
            undo.callback(stopping.set)

    def _tick(self, stopping: threading.Event) -> None:
        while not stopping.wait(self._metrics.store.resolution):
            try:
                self.alarms.evaluate_due()
            except Exception as e:  # keep evaluating; the failure is recorded, not swallowed
                self.ticker_errors.append(f"{type(e).__name__}: {e}")

    def failures(self) -> list[str]:
        """Alarm evaluation that failed: the ticker, or an alarm the evaluator cannot compute."""
        return self.ticker_errors + [f"{n}: {e}" for n, e in self.alarms.errors.items()]

    def routes(self) -> tuple[Route, ...]:
        return (Route("GET", "/local/alarms", self._snapshot),)

    def _snapshot(self, _: LocalRequest) -> HttpResponse:
        self.alarms.evaluate_due()
        return json_response(200, self.alarms.snapshot())


def service_quota(metric: MetricStat) -> float | None:
    """SERVICE_QUOTA of a usage metric, as far as the local stack knows it."""
    d = metric.dimensions
    resource = d.get("Resource")
    if metric.namespace == "AWS/Usage" and d.get("Service") == "KMS" and resource is not None:
        return KMS_USAGE_QUOTAS.get(resource)
    return None


class DashboardsPlugin(StandIn):
    """`GET /local/dashboards[/{name}]`: the program's dashboards drawn from the metric
    store and the alarms' states."""

    name = "dashboards"
    dashboards: Dashboards

    def __init__(self, moto: MotoPlugin, metrics: MetricsPlugin, alarms: AlarmsPlugin):
        super().__init__()
        self._moto, self._metrics, self._alarms = moto, metrics, alarms

    def setup(self, context: StackContext, undo: ExitStack) -> None:
        settings = self._moto.program.settings
        self.dashboards = Dashboards(
            bodies_of(self._moto.program.mocks.of_type, settings.name()),
            self._metrics.store,
            self._alarms.alarms,
            settings.region,
            settings.env,
        )

    def routes(self) -> tuple[Route, ...]:
        index, one, static = dashboard_routes(self.dashboards)
        return (
            Route("GET", "/local/dashboards", index),
            Route("GET", "/local/dashboards/", one, prefix=True),
            Route("GET", "/local/static/", static, prefix=True),
        )
