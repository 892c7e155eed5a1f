"""A month of usage of one stack: the profile applied to the program's own resources.

The profile says how people use the app and what the code does per request; the graph
says what the stack is (which function serves which route, the authorizer's cache,
triggers, batch sizes, log levels, lifecycle days). Anything the profile does not
cover (a new route, function, trigger or log group) stops the model with its name
rather than being priced at zero.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional

from cost.graph import DAYS_PER_MONTH, Graph, poisson_sampled_share
from local.triggers import passes

ASYMMETRIC_KMS = frozenset({"Sign", "Verify", "GetPublicKey"})
TABLE_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"})
TABLE_READS = frozenset({"GetItem", "BatchGetItem", "Query"})  # BatchGetItem: one per item read
S3_PUT_TIER = frozenset({"PutObject", "PostObject", "CopyObject", "ListObjectsV2"})
S3_GET_TIER = frozenset({"GetObject", "HeadObject"})
S3_FREE = frozenset({"DeleteObject", "DeleteObjects"})


class ProfileError(ValueError):
    """The profile does not cover something the program declares (or the reverse)."""


@dataclass
class FunctionUse:
    invocations: float = 0.0
    busy_ms: float = 0.0                 # total milliseconds of execution in the month

    def add(self, count: float, duration_ms: float) -> None:
        self.invocations += count
        self.busy_ms += count * duration_ms


@dataclass
class Usage:
    stack: str
    seconds_per_month: int
    api_requests: float = 0.0
    route_requests: dict[str, float] = field(default_factory=dict)  # "METHOD /path" -> requests
    authorized_requests: float = 0.0
    authorizer_invocations: float = 0.0
    functions: dict[str, FunctionUse] = field(default_factory=dict)
    jobs: Counter = field(default_factory=Counter)              # kind -> jobs
    calls: Counter = field(default_factory=Counter)             # "service.Operation[:item]" -> calls
    stream_records: float = 0.0                                 # records the stream function is given
    ttl_deletions: float = 0.0                                  # stream records of TTL expiries
    ttl_deletions_filtered: float = 0.0                         # of them, what the mapping's filter drops
    stream_batches: float = 0.0
    stream_objects_per_day: float = 0.0
    input_tokens: float = 0.0
    output_tokens: float = 0.0
    model_id: Optional[str] = None
    log_bytes: dict[str, float] = field(default_factory=dict)   # log group -> bytes ingested
    trace_roots: dict[str, float] = field(default_factory=dict)  # "api" / "functions" -> requests that start a trace
    traced_share: float = 0.0                                      # of them, what X-Ray's sampling keeps

    def function(self, name: str) -> FunctionUse:
        return self.functions.setdefault(name, FunctionUse())

    @property
    def invocations(self) -> float:
        return sum(f.invocations for f in self.functions.values())


def derive(graph: Graph, profile: dict[str, Any], seconds_per_month: int) -> Usage:
    usage = Usage(graph.stack, seconds_per_month)
    _api(graph, profile, usage)
    _scheduled_jobs(graph, profile, usage)
    _jobs(graph, profile, usage)
    _stream(graph, profile, usage)
    _schedules(graph, profile, usage)
    uncovered = sorted(set(graph.functions) - set(usage.functions))
    if uncovered:
        raise ProfileError(f"{graph.stack}: no usage for the function(s) {uncovered}: no route, authorizer, trigger "
                           f"or schedule of the program invokes them")
    _logs(graph, profile, usage)
    _traces(graph, profile, usage)
    return usage


def add_calls(usage: Usage, calls: dict[str, float], times: float) -> None:
    for call, count in calls.items():
        usage.calls[call] += count * times


def _api(graph: Graph, profile: dict, usage: Usage) -> None:
    routes = {r.key: r for r in graph.routes}
    declared = profile.get("routes", {})
    missing, unknown = sorted(set(routes) - set(declared)), sorted(set(declared) - set(routes))
    if missing or unknown:
        raise ProfileError(f"{graph.stack}: the profile's routes differ from the API's: routes without usage "
                           f"{missing}, usage for routes the API does not serve {unknown}")
    for key, route in sorted(routes.items()):
        spec = declared[key]
        requests = float(spec["requests"])
        usage.api_requests += requests
        usage.route_requests[key] = requests
        usage.authorized_requests += requests if route.authorized else 0
        usage.function(route.function).add(requests, float(spec["duration_ms"]))
        add_calls(usage, spec.get("calls", {}), requests)
        if "job" in spec:
            usage.jobs[spec["job"]] += requests
    if graph.authorizer and usage.authorized_requests:
        name, ttl = graph.authorizer
        # One call per session per cache period; without a cache, one per request.
        per_session = math.ceil(profile["session_seconds"] / ttl) if ttl else math.inf
        usage.authorizer_invocations = min(usage.authorized_requests, profile["sessions"] * per_session)
        spec = profile["authorizer"]
        usage.function(name).add(usage.authorizer_invocations, float(spec["duration_ms"]))
        add_calls(usage, spec.get("calls", {}), usage.authorizer_invocations)


def _scheduled_jobs(graph: Graph, profile: dict, usage: Usage) -> None:
    """Jobs a scheduled function starts through the API (the canary's synthetic report):
    priced with the users' jobs, model tokens included; and its API requests, each priced as
    its route's (API Gateway, CloudFront, WAF, the route's function), with one authorizer
    invocation a run (a fresh token each run; the cache answers its other requests). The
    AWS calls those requests make are the scheduled function's `calls`: the canary's are
    not its route's (no quota is counted for it)."""
    routes = {r.key: r for r in graph.routes}
    for trigger in (t for t in graph.triggers if t.kind == "schedule"):
        spec = profile.get("scheduled", {}).get(trigger.function, {})
        runs = trigger.runs_per_month
        for kind, per_run in spec.get("jobs", {}).items():
            usage.jobs[kind] += runs * per_run
        requests = spec.get("requests", {})
        unknown = sorted(set(requests) - set(routes))
        if unknown:
            raise ProfileError(f"{graph.stack}: [scheduled.{trigger.function}] requests routes the API does not "
                               f"serve: {unknown}")
        for key, per_run in sorted(requests.items()):
            count = runs * float(per_run)
            usage.api_requests += count
            usage.route_requests[key] = usage.route_requests.get(key, 0.0) + count
            usage.authorized_requests += count if routes[key].authorized else 0
            usage.function(routes[key].function).add(count, float(profile["routes"][key]["duration_ms"]))
        if graph.authorizer and any(routes[key].authorized for key in requests):
            usage.authorizer_invocations += runs
            usage.function(graph.authorizer[0]).add(runs, float(profile["authorizer"]["duration_ms"]))
            add_calls(usage, profile["authorizer"].get("calls", {}), runs)


def _jobs(graph: Graph, profile: dict, usage: Usage) -> None:
    triggers = [t for t in graph.triggers if t.kind == "s3"]
    jobs_spec = profile["jobs"]
    for trigger in triggers:
        if trigger.prefix != jobs_spec["prefix"]:
            raise ProfileError(f"{graph.stack}: {trigger.function} is triggered by {trigger.prefix!r}; the profile "
                               f"models jobs under {jobs_spec['prefix']!r} only")
    if usage.jobs and not triggers:
        raise ProfileError(f"{graph.stack}: routes start jobs but no function is triggered by their uploads")
    unknown = sorted(set(usage.jobs) - set(jobs_spec["kinds"]))
    if unknown:
        raise ProfileError(f"{graph.stack}: routes start jobs of kinds the profile does not describe: {unknown}")
    for trigger in triggers:
        function = graph.functions[trigger.function]
        variables = (function.inputs.get("environment") or {}).get("variables", {})
        uses_bedrock = "BEDROCK_MODEL_ID" in variables
        for kind, count in sorted(usage.jobs.items()):
            spec = jobs_spec["kinds"][kind]
            usage.function(trigger.function).add(count, float(spec["duration_ms"]))
            add_calls(usage, spec.get("calls", {}), count)
            if uses_bedrock:
                usage.model_id = variables["BEDROCK_MODEL_ID"]
                usage.input_tokens += count * spec["input_tokens"]
                usage.output_tokens += count * spec["output_tokens"]


def table_writes(usage: Usage) -> float:
    """Item writes in the month: each one is a stream record."""
    return sum(n for call, n in usage.calls.items() if _operation(call)[0] == "dynamodb"
               and _operation(call)[1] in TABLE_WRITES)


def ttl_deletions(usage: Usage, profile: dict) -> float:
    """Stream records of TTL expiries: each write of an item kind that expires is one later."""
    items = profile.get("dynamodb", {}).get("items", {})
    return sum(n for call, n in usage.calls.items() if _operation(call)[0] == "dynamodb"
               and _operation(call)[1] in TABLE_WRITES and items.get(_operation(call)[2], {}).get("ttl"))


# What a TTL expiry looks like on the stream (the documented userIdentity of the service).
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/time-to-live-ttl-streams.html
TTL_RECORD = {"eventName": "REMOVE", "eventSource": "aws:dynamodb",
              "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"}, "dynamodb": {}}


def _stream(graph: Graph, profile: dict, usage: Usage) -> None:
    streams = [t for t in graph.triggers if t.kind == "stream"]
    table = graph.table
    if not streams or not table or not table.inputs.get("streamEnabled"):
        return
    usage.ttl_deletions = ttl_deletions(usage, profile)
    spec = profile["stream"]
    for trigger in streams:
        # Lambda drops what the mapping's filters exclude before batching: no invocation for it.
        filtered = 0.0 if passes(trigger.filters, TTL_RECORD) else usage.ttl_deletions
        usage.ttl_deletions_filtered += filtered
        usage.stream_records = table_writes(usage) + usage.ttl_deletions - filtered
        # A batch closes when the window ends or it is full: at a steady rate it holds the
        # record that opened it plus what arrives within the window.
        rate = usage.stream_records / usage.seconds_per_month
        per_batch = min(trigger.batch_size, 1 + rate * trigger.window_s)
        batches = usage.stream_records / per_batch
        usage.stream_batches += batches
        usage.stream_objects_per_day += batches / DAYS_PER_MONTH
        usage.function(trigger.function).add(batches, float(spec["duration_ms_per_batch"]))
        add_calls(usage, spec.get("calls_per_batch", {}), batches)


def _schedules(graph: Graph, profile: dict, usage: Usage) -> None:
    for trigger in (t for t in graph.triggers if t.kind == "schedule"):
        spec = profile.get("scheduled", {}).get(trigger.function)
        if spec is None:
            raise ProfileError(f"{graph.stack}: the scheduled function {trigger.function} has no [scheduled."
                               f"{trigger.function}] in the profile")
        runs = trigger.runs_per_month
        objects = usage.stream_objects_per_day if "ms_per_input_object" in spec else 0.0
        duration = float(spec["duration_ms"]) + objects * float(spec.get("ms_per_input_object", 0))
        usage.function(trigger.function).add(runs, duration)
        add_calls(usage, spec.get("calls", {}), runs)
        add_calls(usage, spec.get("calls_per_input_object", {}), runs * objects)


def _levels(function) -> tuple[str, str]:
    config = function.inputs.get("loggingConfig") or {}
    return config.get("systemLogLevel", "INFO"), config.get("applicationLogLevel", "INFO")


def _logs(graph: Graph, profile: dict, usage: Usage) -> None:
    spec = profile["logs"]
    for name, function in graph.functions.items():
        system, application = _levels(function)
        group = (function.inputs.get("loggingConfig") or {}).get("logGroup") or f"/aws/lambda/{function.inputs['name']}"
        per_invocation = spec["lambda_system"][system] + spec["lambda_application"][application]
        usage.log_bytes[group] = usage.log_bytes.get(group, 0.0) + usage.function(name).invocations * per_invocation
    stage = graph.one("aws:apigateway/stage:Stage")
    if stage and graph.access_log_group:
        line = len(stage.inputs["accessLogSettings"]["format"]) * spec["access_line_factor"]
        usage.log_bytes[graph.access_log_group] = usage.api_requests * line
    level = graph.stage_settings.get("loggingLevel", "OFF")
    if level != "OFF" and graph.execution_log_group:
        usage.log_bytes[graph.execution_log_group] = usage.api_requests * spec["apigateway_execution"][level]
    silent = sorted(set(graph.log_groups) - set(usage.log_bytes))
    if silent:
        raise ProfileError(f"{graph.stack}: no modelled source writes to the log group(s) {silent}")


def _traces(graph: Graph, profile: dict, usage: Usage) -> None:
    stage = graph.one("aws:apigateway/stage:Stage")
    usage.trace_roots["api"] = usage.api_requests if stage and stage.inputs.get("xrayTracingEnabled") else 0.0
    # Invocations that do not come through the API start traces of their own.
    through_api = {r.function for r in graph.routes} | ({graph.authorizer[0]} if graph.authorizer else set())
    usage.trace_roots["functions"] = sum(
        usage.function(name).invocations for name, function in graph.functions.items()
        if name not in through_api and (function.inputs.get("tracingConfig") or {}).get("mode") == "Active")
    # One sampling rule (X-Ray's default) for the account's whole traffic.
    spec = profile["xray"]
    rate = sum(usage.trace_roots.values()) / usage.seconds_per_month
    usage.traced_share = poisson_sampled_share(rate, spec["reservoir_per_second"], spec["fixed_rate"])


def _operation(call: str) -> tuple[str, str, str]:
    """"dynamodb.UpdateItem:profile" -> ("dynamodb", "UpdateItem", "profile")."""
    service, _, rest = call.partition(".")
    operation, _, item = rest.partition(":")
    return service, operation, item


def calls_of(usage: Usage, service: str) -> list[tuple[str, str, float]]:
    """(operation, item, count) of one service's calls, in a stable order."""
    return [(*_operation(call)[1:], n) for call, n in sorted(usage.calls.items()) if _operation(call)[0] == service]
