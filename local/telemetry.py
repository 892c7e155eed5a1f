"""What CloudWatch would receive from the local stack, recorded at the boundaries the
functions really use, into the metric store (local/metric_store.py).

- AWS/Lambda, per function (FunctionName: the physical name) and for the account (no
  dimension), recorded by the local runtime around each invocation: Invocations,
  Errors (an invocation that raised), Throttles, Duration (ms, including the waits the
  local runtime skips, local/runtime.py), ConcurrentExecutions (instances busy when it
  starts) and, for stream batches, IteratorAge (ms from the last record's
  ApproximateCreationDateTime to the invocation). Invocation metrics are "binary
  indicators of the outcome" stamped when the function was invoked
  (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html): every
  invocation sends Errors and Throttles as 0 or 1; locally nothing is throttled (one
  container per function, below every reservation), so Throttles is always 0.
- AWS/ApiGateway, recorded by the gateway emulator for every API request: Count,
  4XXError and 5XXError (0 or 1 per request), Latency and IntegrationLatency (ms), with
  ApiName, ApiName+Stage, and ApiName+Stage+Resource+Method for the methods whose
  settings enable metrics (detailed metrics: a method's own settings, else the stage's `*/*`)
  (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html).
- AWS/DynamoDB, from the functions' calls (botocore `after-call`): SuccessfulRequestLatency,
  SystemErrors (5xx), ThrottledRequests and Read/WriteThrottleEvents (throttling
  errors), ConditionalCheckFailedRequests, UserErrors (other 400s, no dimension)
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/metrics-dimensions.html).
- AWS/Usage CallCount per KMS quota (Resource CryptographicOperationsSymmetric, ...Ecc)
  or, outside a shared quota, per operation (Service KMS, Type API, Class None), from the
  functions' KMS calls; S3's own calls to KMS for SSE-KMS objects happen inside moto and
  are not counted.
- AWS/Bedrock per ModelId (the stack's configured model, which the offline analyser
  stands in for): Invocations, InvocationLatency, InputTokenCount, OutputTokenCount,
  InvocationThrottles (429), InvocationServerErrors (5xx), InvocationClientErrors.
- AWS/SQS ApproximateNumberOfMessagesVisible of the failure queues, sampled every
  CloudWatch minute; AWS/S3 NumberOfObjects and BucketSizeBytes of the buckets, once a
  CloudWatch day (the daily storage metrics; the stacks configure no request metrics).
- The functions' EMF lines (local/emf.py), and AWS/Logs EMFValidationErrors /
  EMFParsingErrors per log group for the ones CloudWatch would refuse.

Only calls made while a function runs (local.runtime.current_function) are counted:
the local stack's own calls and a test's direct calls are not the application's.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from components.alarms import KMS_QUOTAS
from local import emf
from local.metric_store import MetricStore
from local.runtime import current_function

READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
THROTTLING = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
_STARTED, _PARAMS = "serenya_metrics_started", "serenya_metrics_params"


@dataclass(frozen=True)
class DetailedMethods:
    """Which methods send per-method metrics: a method's own settings win over the
    stage's `*/*` (its methodPath escapes "/" as "~1", components/api.method_path)."""

    stage: bool = False
    methods: Mapping[tuple[str, str], bool] = field(default_factory=dict)  # (resource, METHOD) -> enabled

    def enabled(self, resource: str, method: str) -> bool:
        return self.methods.get((resource, method), self.stage)


def detailed_methods(method_settings: Iterable[Any]) -> DetailedMethods:
    """From the program's MethodSettings resources (their methodPath and metricsEnabled)."""
    stage, methods = False, {}
    for resource in method_settings:
        path = resource.inputs["methodPath"]
        enabled = bool((resource.inputs.get("settings") or {}).get("metricsEnabled"))
        if path == "*/*":
            stage = enabled
        else:
            resource, method = path.rsplit("/", 1)
            methods[(resource.replace("~1", "/"), method)] = enabled
    return DetailedMethods(stage, methods)


@dataclass
class StackFacts:
    """What the metrics are named after, from the program's resources."""

    api_name: str
    stage: str
    detailed_api_metrics: DetailedMethods
    log_groups: Mapping[str, str]  # catalog name -> /aws/lambda/<physical>
    model_id: str | None = None
    queues: Mapping[str, str] = field(default_factory=dict)  # queue name -> URL
    buckets: tuple[str, ...] = ()


class Telemetry:
    def __init__(self, store: MetricStore, facts: StackFacts):
        self.store, self.facts = store, facts
        self._busy: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._emitters: list = []
        self.emf_errors: Counter[str] = Counter()  # by kind, for tests and /local/health
        self._storage_sampled_at: float | None = None

    # -- AWS/Lambda ------------------------------------------------------------------
    def invocation_started(self, name: str, physical: str) -> tuple[float, int]:
        """Before the handler runs: the invocation's time and instances busy."""
        with self._lock:
            self._busy[physical] += 1
            busy, account = self._busy[physical], sum(self._busy.values())
        at = self.store.clock.now()
        self.store.put("AWS/Lambda", "ConcurrentExecutions", {"FunctionName": physical}, busy, "Count", at)
        self.store.put("AWS/Lambda", "ConcurrentExecutions", {}, account, "Count", at)
        return at, busy

    def invocation_ended(self, physical: str, at: float, event: Any, duration_ms: float, error: bool) -> None:
        with self._lock:
            self._busy[physical] -= 1
        for dims in ({"FunctionName": physical}, {}):
            self.store.put("AWS/Lambda", "Invocations", dims, 1, "Count", at)
            self.store.put("AWS/Lambda", "Errors", dims, 1 if error else 0, "Count", at)
            self.store.put("AWS/Lambda", "Throttles", dims, 0, "Count", at)
            self.store.put("AWS/Lambda", "Duration", dims, duration_ms, "Milliseconds", at)
        age = _iterator_age_ms(event)
        if age is not None:
            self.store.put("AWS/Lambda", "IteratorAge", {"FunctionName": physical}, age, "Milliseconds", at)

    # -- AWS/ApiGateway ----------------------------------------------------------------
    def api_request(
        self, resource: str | None, method: str, status: int, latency_ms: float, integration_ms: float | None
    ) -> None:
        api = {"ApiName": self.facts.api_name}
        stage = {**api, "Stage": self.facts.stage}
        sets = [api, stage]
        if resource and self.facts.detailed_api_metrics.enabled(resource, method):
            sets.append({**stage, "Resource": resource, "Method": method})
        for dims in sets:
            self.store.put("AWS/ApiGateway", "Count", dims, 1, "Count")
            self.store.put("AWS/ApiGateway", "4XXError", dims, 1 if 400 <= status < 500 else 0, "Count")
            self.store.put("AWS/ApiGateway", "5XXError", dims, 1 if status >= 500 else 0, "Count")
            self.store.put("AWS/ApiGateway", "Latency", dims, latency_ms, "Milliseconds")
            if integration_ms is not None:
                self.store.put("AWS/ApiGateway", "IntegrationLatency", dims, integration_ms, "Milliseconds")

    # -- EMF ---------------------------------------------------------------------------
    def emf_line(self, line: str, function: str | None) -> None:
        try:
            data = emf.parse(line)
        except (emf.InvalidEmf, emf.UnparsableEmf) as e:
            kind = "EMFParsingErrors" if isinstance(e, emf.UnparsableEmf) else "EMFValidationErrors"
            self.emf_errors[kind] += 1
            group = self.facts.log_groups.get(function or "")
            if group:
                self.store.put("AWS/Logs", kind, {"LogGroupName": group}, 1, "Count")
            return
        for d in data:
            self.store.put_values(d.namespace, d.name, d.dimensions, d.values, d.unit)

    # -- the functions' AWS calls ---------------------------------------------------------
    def attach(self, events) -> None:
        """Counts the calls made through a botocore event emitter (the functions' session)."""
        events.register("provide-client-params.dynamodb", self._started)
        events.register("after-call.dynamodb", self._dynamodb)
        events.register("after-call.kms", self._kms)
        self._emitters.append(events)

    def detach(self) -> None:
        for events in self._emitters:
            events.unregister("provide-client-params.dynamodb", self._started)
            events.unregister("after-call.dynamodb", self._dynamodb)
            events.unregister("after-call.kms", self._kms)
        self._emitters.clear()

    def _started(self, params, context, **_) -> None:
        context[_STARTED] = time.monotonic()
        context[_PARAMS] = dict(params)  # after-call sees the serialised request only

    def _dynamodb(self, http_response, parsed, model, context, **_) -> None:
        if current_function() is None:
            return
        operation, status = model.name, getattr(http_response, "status_code", 0)
        code = (parsed or {}).get("Error", {}).get("Code", "")
        tables = _tables(operation, context.get(_PARAMS) or {})
        if status < 300:
            elapsed = (time.monotonic() - context.get(_STARTED, time.monotonic())) * 1000
            for table in tables:
                self.store.put(
                    "AWS/DynamoDB",
                    "SuccessfulRequestLatency",
                    {"TableName": table, "Operation": operation},
                    elapsed,
                    "Milliseconds",
                )
        elif status >= 500:
            for table in tables:
                self.store.put("AWS/DynamoDB", "SystemErrors", {"TableName": table, "Operation": operation}, 1, "Count")
        elif code in THROTTLING:
            kind = "ReadThrottleEvents" if operation in READS else "WriteThrottleEvents"
            for table in tables:
                self.store.put(
                    "AWS/DynamoDB", "ThrottledRequests", {"TableName": table, "Operation": operation}, 1, "Count"
                )
                self.store.put("AWS/DynamoDB", kind, {"TableName": table}, 1, "Count")
        elif code == "ConditionalCheckFailedException":
            for table in tables:
                self.store.put("AWS/DynamoDB", "ConditionalCheckFailedRequests", {"TableName": table}, 1, "Count")
        else:
            self.store.put("AWS/DynamoDB", "UserErrors", {}, 1, "Count")

    def _kms(self, model, **_) -> None:
        if current_function() is None:
            return
        # As KMS publishes it: the shared quota's metric for a cryptographic operation,
        # the operation's own otherwise (components/alarms.KMS_QUOTAS).
        resource = next((q.resource for q in KMS_QUOTAS if model.name in q.operations), model.name)
        self.store.put(
            "AWS/Usage",
            "CallCount",
            {"Service": "KMS", "Type": "API", "Resource": resource, "Class": "None"},
            1,
            "Count",
        )

    # -- the model ------------------------------------------------------------------------
    def model_call(self, status: int, code: str, latency_ms: float, usage: Mapping[str, int] | None) -> None:
        model = self.facts.model_id
        if not model:
            return
        dims = {"ModelId": model}
        if status < 300:
            self.store.put("AWS/Bedrock", "Invocations", dims, 1, "Count")
            self.store.put("AWS/Bedrock", "InvocationLatency", dims, latency_ms, "Milliseconds")
            self.store.put("AWS/Bedrock", "InputTokenCount", dims, (usage or {}).get("inputTokens", 0), "Count")
            self.store.put("AWS/Bedrock", "OutputTokenCount", dims, (usage or {}).get("outputTokens", 0), "Count")
        elif status == 429:
            self.store.put("AWS/Bedrock", "InvocationThrottles", dims, 1, "Count")
        elif status >= 500:
            self.store.put("AWS/Bedrock", "InvocationServerErrors", dims, 1, "Count")
        else:
            self.store.put("AWS/Bedrock", "InvocationClientErrors", dims, 1, "Count")

    # -- sampled metrics ------------------------------------------------------------------
    def sample(self, sqs, s3, evaluated_at: float) -> None:
        """The SQS metrics of the CloudWatch minute that just ended (stamped inside it, so
        the evaluation at its end sees them), and S3's daily storage metrics."""
        at = evaluated_at - self.store.resolution / 2
        for name, url in self.facts.queues.items():
            visible = int(
                sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
                    "ApproximateNumberOfMessages"
                ]
            )
            self.store.put("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": name}, visible, "Count", at)
        day = self.store.local_seconds(86_400)
        if self._storage_sampled_at is not None and at - self._storage_sampled_at < day:
            return
        self._storage_sampled_at = at
        for bucket in self.facts.buckets:
            count = size = 0
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for obj in page.get("Contents", []):
                    count, size = count + 1, size + obj["Size"]
            self.store.put(
                "AWS/S3",
                "NumberOfObjects",
                {"BucketName": bucket, "StorageType": "AllStorageTypes"},
                count,
                "Count",
                at,
            )
            self.store.put(
                "AWS/S3", "BucketSizeBytes", {"BucketName": bucket, "StorageType": "StandardStorage"}, size, "Bytes", at
            )


def _tables(operation: str, params: Mapping[str, Any]) -> list[str]:
    def name(table: str) -> str:
        return table.rsplit("/", 1)[-1] if table.startswith("arn:") else table

    if "TableName" in params:
        return [name(params["TableName"])]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [name(t) for t in params.get("RequestItems", {})]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        return sorted(
            {
                name(spec["TableName"])
                for item in params.get("TransactItems", [])
                for spec in item.values()
                if isinstance(spec, dict) and "TableName" in spec
            }
        )
    return []


def _iterator_age_ms(event: Any) -> float | None:
    """How old the batch's last stream record is, for a DynamoDB stream batch."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not records or not isinstance(records[-1], dict) or records[-1].get("eventSource") != "aws:dynamodb":
        return None
    created = (records[-1].get("dynamodb") or {}).get("ApproximateCreationDateTime")
    if not isinstance(created, (int, float)):
        return None
    return max(0.0, (time.time() - created) * 1000)
