"""The program's resources as the cost model reads them.

`evaluate(stack)` runs the real Pulumi program under the mocks the tests use
(`local.program.run_program`) and keeps every resource with its inputs; `Graph` answers
the questions pricing asks of them (which function serves a route, what triggers a
function, how many instances are kept warm, which log group gets which logs), always
from the inputs, never from a second list of names.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Callable, Optional

from local.program import ProgramRun, Recorded, run_program

COMPONENT_PREFIX = "serenya:"   # the program's ComponentResources: groupings, not AWS resources
HTTP_METHODS = ("get", "post", "put", "delete", "patch")
DAYS_PER_MONTH = 730 / 24


@dataclass(frozen=True)
class Route:
    method: str       # GET
    path: str         # /api/v1/process/status/{job_id}
    function: str     # catalog name of the function that serves it
    authorized: bool  # behind the token authorizer

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Trigger:
    """An event source that invokes a function outside the API."""
    kind: str                  # "s3", "stream" or "schedule"
    function: str
    prefix: str = ""           # s3: the key prefix
    batch_size: int = 1        # stream
    window_s: float = 0.0      # stream: maximum batching window
    filters: tuple = ()        # stream: the mapping's filter patterns (none: every record)
    runs_per_month: float = 0  # schedule


@dataclass(frozen=True)
class Graph:
    stack: str
    region: str
    resources: tuple[Recorded, ...]

    # -- generic ------------------------------------------------------------------------
    def of_type(self, type_: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> Optional[Recorded]:
        found = self.of_type(type_)
        if len(found) > 1:
            raise ValueError(f"{self.stack}: {len(found)} resources of {type_}, the cost model expects one")
        return found[0] if found else None

    @property
    def aws_types(self) -> set[str]:
        return {r.type for r in self.resources if not r.type.startswith(COMPONENT_PREFIX)}

    @property
    def prefix(self) -> str:
        return f"serenya-{self.stack}-"

    def catalog_name(self, physical: str) -> str:
        """serenya-prod-auth, an ARN of it or of its alias -> auth."""
        name = physical.removesuffix("/invocations").split(":function:")[-1].split(":")[0]
        if not name.startswith(self.prefix):
            raise ValueError(f"{self.stack}: function {physical!r} is not named {self.prefix}<name>")
        return name.removeprefix(self.prefix)

    def with_inputs(self, type_: str, change: Callable[[dict], dict]) -> "Graph":
        """The same graph with `change` applied to the inputs of every resource of `type_`
        (what-if estimates: another architecture, another cache setting)."""
        return replace(self, resources=tuple(
            replace(r, inputs=change(dict(r.inputs))) if r.type == type_ else r for r in self.resources))

    # -- Lambda -------------------------------------------------------------------------
    @cached_property
    def functions(self) -> dict[str, Recorded]:
        return {self.catalog_name(f.inputs["name"]): f for f in self.of_type("aws:lambda/function:Function")}

    def provisioned(self, function: str) -> int:
        return int(sum(p.inputs["provisionedConcurrentExecutions"]
                       for p in self.of_type("aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig")
                       if self.catalog_name(p.inputs["functionName"]) == function))

    # -- API ----------------------------------------------------------------------------
    @cached_property
    def api_document(self) -> dict:
        api = self.one("aws:apigateway/restApi:RestApi")
        return json.loads(api.inputs["body"]) if api else {}

    @cached_property
    def routes(self) -> tuple[Route, ...]:
        """Every method the API serves through a Lambda integration (OPTIONS and the 405
        mocks are left out: the mobile app sends no CORS preflights)."""
        found = []
        for path, operations in sorted(self.api_document.get("paths", {}).items()):
            for method, operation in sorted(operations.items()):
                if method not in HTTP_METHODS:
                    continue
                uri = operation["x-amazon-apigateway-integration"]["uri"]
                found.append(Route(method.upper(), path, self.catalog_name(uri.split("/functions/")[1]),
                                   bool(operation.get("security"))))
        return tuple(found)

    @cached_property
    def authorizer(self) -> Optional[tuple[str, int]]:
        """(function, result cache TTL in seconds) of the API's token authorizer."""
        for scheme in self.api_document.get("components", {}).get("securitySchemes", {}).values():
            authorizer = scheme.get("x-amazon-apigateway-authorizer")
            if authorizer:
                uri = authorizer["authorizerUri"]
                return (self.catalog_name(uri.split("/functions/")[1]),
                        int(authorizer.get("authorizerResultTtlInSeconds", 300)))
        return None

    # -- triggers -----------------------------------------------------------------------
    @cached_property
    def triggers(self) -> tuple[Trigger, ...]:
        found = []
        for notification in self.of_type("aws:s3/bucketNotification:BucketNotification"):
            for target in notification.inputs.get("lambdaFunctions", []):
                found.append(Trigger("s3", self.catalog_name(target["lambdaFunctionArn"]),
                                     prefix=target.get("filterPrefix", "")))
        for mapping in self.of_type("aws:lambda/eventSourceMapping:EventSourceMapping"):
            found.append(Trigger("stream", self.catalog_name(mapping.inputs["functionName"]),
                                 batch_size=int(mapping.inputs.get("batchSize", 100)),
                                 window_s=float(mapping.inputs.get("maximumBatchingWindowInSeconds", 0)),
                                 filters=tuple(json.loads(f["pattern"]) for f in
                                               (mapping.inputs.get("filterCriteria") or {}).get("filters") or [])))
        rules = {r.inputs["name"]: r for r in self.of_type("aws:cloudwatch/eventRule:EventRule")}
        for target in self.of_type("aws:cloudwatch/eventTarget:EventTarget"):
            expression = rules[target.inputs["rule"]].inputs["scheduleExpression"]
            found.append(Trigger("schedule", self.catalog_name(target.inputs["arn"]),
                                 runs_per_month=runs_per_month(expression)))
        return tuple(found)

    # -- logs ---------------------------------------------------------------------------
    @cached_property
    def log_groups(self) -> dict[str, Recorded]:
        return {g.inputs["name"]: g for g in self.of_type("aws:cloudwatch/logGroup:LogGroup")}

    @cached_property
    def access_log_group(self) -> Optional[str]:
        stage = self.one("aws:apigateway/stage:Stage")
        settings = (stage.inputs.get("accessLogSettings") or {}) if stage else {}
        arn = settings.get("destinationArn")
        return arn.split(":log-group:")[1] if arn else None

    @property
    def stage_settings(self) -> dict:
        """The stage-wide method settings (methodPath "*/*")."""
        for settings in self.of_type("aws:apigateway/methodSettings:MethodSettings"):
            if settings.inputs.get("methodPath", "*/*") == "*/*":
                return settings.inputs.get("settings") or {}
        return {}

    @cached_property
    def execution_log_group(self) -> Optional[str]:
        stage = self.one("aws:apigateway/stage:Stage")
        if not stage:
            return None
        return f"API-Gateway-Execution-Logs_{stage.inputs['restApi']}/{stage.inputs['stageName']}"

    # -- storage ------------------------------------------------------------------------
    def lifecycle_rules(self, bucket: str) -> list[dict]:
        return [rule for config in self.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
                if config.inputs["bucket"] == bucket for rule in config.inputs.get("rules", [])
                if rule.get("status", "Enabled") == "Enabled"]

    def expiration_days(self, bucket: str, key: str) -> Optional[float]:
        """The days after which a lifecycle rule deletes `key`, None if none does."""
        days = [float(r["expiration"]["days"]) for r in self.lifecycle_rules(bucket)
                if r.get("expiration", {}).get("days") and key.startswith(_rule_prefix(r))]
        return min(days) if days else None

    def transitions(self, bucket: str, key: str) -> list[tuple[float, str]]:
        """(days, storage class) a lifecycle rule moves `key` to, in order."""
        return sorted((float(t["days"]), t["storageClass"]) for r in self.lifecycle_rules(bucket)
                      if key.startswith(_rule_prefix(r)) for t in r.get("transitions", []))

    def bucket_key_enabled(self, bucket: str) -> bool:
        return any(rule.get("bucketKeyEnabled") for config in
                   self.of_type("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
                   if config.inputs["bucket"] == bucket for rule in config.inputs.get("rules", []))

    @cached_property
    def bucket_roles(self) -> dict[str, str]:
        """Each bucket's name -> what it holds, from what refers to it: "jobs" (an S3
        trigger's bucket), "audit" (the Glue table's location), "query-results" (an Athena
        workgroup's output), "artifacts" (code archives uploaded as objects)."""
        roles: dict[str, str] = {}
        for notification in self.of_type("aws:s3/bucketNotification:BucketNotification"):
            roles[notification.inputs["bucket"]] = "jobs"
        for table in self.of_type("aws:glue/catalogTable:CatalogTable"):
            roles[_s3_bucket(table.inputs["storageDescriptor"]["location"])] = "audit"
        for workgroup in self.of_type("aws:athena/workgroup:Workgroup"):
            location = workgroup.inputs["configuration"]["resultConfiguration"]["outputLocation"]
            roles[_s3_bucket(location)] = "query-results"
        for obj in self.of_type("aws:s3/bucketObjectv2:BucketObjectv2"):
            roles.setdefault(obj.inputs["bucket"], "artifacts")
        return roles

    @cached_property
    def table(self) -> Optional[Recorded]:
        return self.one("aws:dynamodb/table:Table")

    @property
    def index_count(self) -> int:
        return len(self.table.inputs.get("globalSecondaryIndexes", [])) if self.table else 0


def _rule_prefix(rule: dict) -> str:
    return (rule.get("filter") or {}).get("prefix", rule.get("prefix", "")) or ""


def _s3_bucket(url: str) -> str:
    return url.removeprefix("s3://").split("/")[0]


# -- schedules ---------------------------------------------------------------------------

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_PER_MONTH = {"minute": 730 * 60, "hour": 730, "day": DAYS_PER_MONTH}


def runs_per_month(expression: str) -> float:
    """How often an EventBridge schedule fires in a 730-hour month. Supports rate(...)
    and cron(...) whose minute and hour fields are numbers, lists or `*`, and whose
    day fields are `*` or `?` (every day); anything else is refused, not guessed."""
    rate = _RATE.match(expression)
    if rate:
        return _UNIT_PER_MONTH[rate.group(2).rstrip("s")] / int(rate.group(1))
    cron = _CRON.match(expression)
    if not cron:
        raise ValueError(f"schedule {expression!r}: neither rate(...) nor cron(...)")
    fields = cron.group(1).split()
    if len(fields) != 6 or any(f not in ("*", "?") for f in fields[2:5]):
        raise ValueError(f"schedule {expression!r}: only daily cron expressions are modelled")
    minutes, hours = (_field_count(f, limit) for f, limit in zip(fields[:2], (60, 24)))
    return minutes * hours * DAYS_PER_MONTH


def _field_count(field: str, limit: int) -> int:
    if field == "*":
        return limit
    if not re.fullmatch(r"\d+(,\d+)*", field):
        raise ValueError(f"cron field {field!r}: only numbers, lists and * are modelled")
    return len(set(field.split(",")))


# -- evaluation ---------------------------------------------------------------------------

def evaluate(stack: str, config: Optional[dict[str, str]] = None, catalog: Optional[tuple] = None) -> Graph:
    """Runs the program for `stack` as the tests do (Pulumi.<stack>.yaml unless `config`,
    functions/catalog.py unless `catalog`)."""
    run = run_program(stack, config=config, **({"catalog": catalog} if catalog is not None else {}))
    return from_run(stack, run)


def from_run(stack: str, run: ProgramRun) -> Graph:
    return Graph(stack, run.settings.region, tuple(run.mocks.resources))


def poisson_sampled_share(rate_per_s: float, reservoir: float, fixed_rate: float) -> float:
    """Share of requests X-Ray's sampling rule keeps when they arrive as a Poisson process
    at `rate_per_s`: the reservoir takes up to `reservoir` per second, `fixed_rate` of
    the rest. Exact for an integer reservoir."""
    if rate_per_s <= 0:
        return 0.0
    n = int(reservoir)
    # E[min(N, n)] for N ~ Poisson(rate)
    p, below, taken = math.exp(-rate_per_s), 0.0, 0.0
    for k in range(n):
        taken += k * p
        below += p
        p *= rate_per_s / (k + 1)
    taken += n * (1 - below)
    return (taken + fixed_rate * (rate_per_s - taken)) / rate_per_s
