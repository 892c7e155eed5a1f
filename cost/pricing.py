"""Line items: each billable resource type of the graph priced from its inputs and the
month's usage. One pricer per type in the price list's [priced] table (a test holds the
two together); a line is a quantity times one unit price, rounded to the cent, and a
stack's total is the sum of its lines."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable

from components.api import method_path  # the stage's key of a route's method settings
from cost.data import PriceList
from cost.graph import DAYS_PER_MONTH, Graph
from cost.usage import (ASYMMETRIC_KMS, S3_FREE, S3_GET_TIER, S3_PUT_TIER, TABLE_READS, TABLE_WRITES, ProfileError,
                        Usage, calls_of, derive)

CENT = Decimal("0.01")
GB = 1024 ** 3
KB = 1024
MB = 1024 ** 2
TB = 1024 ** 4


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Line:
    service: str
    item: str
    quantity: float
    unit: str
    rate: Decimal       # USD per unit
    price: str          # key in the price list (or "bedrock:<model>:input|output")
    resource: str = ""  # the function, for Lambda lines

    @property
    def amount(self) -> Decimal:
        return money(Decimal(f"{self.quantity:.6f}") * self.rate)


@dataclass(frozen=True)
class Estimate:
    stack: str
    lines: tuple[Line, ...]
    usage: Usage
    graph: Graph

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0.00"))

    def by_service(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for line in self.lines:
            totals[line.service] = totals.get(line.service, Decimal("0.00")) + line.amount
        return totals

    def top(self, n: int) -> list[Line]:
        return sorted(self.lines, key=lambda line: (-line.amount, line.service, line.item))[:n]


@dataclass(frozen=True)
class Context:
    graph: Graph
    usage: Usage
    profile: dict[str, Any]
    prices: PriceList

    def line(self, service: str, item: str, quantity: float, unit: str, price: str, resource: str = "") -> Line:
        return Line(service, item, quantity, unit, self.prices[price], price, resource)


Pricer = Callable[[Context], list[Line]]


# -- Lambda -------------------------------------------------------------------------------

def _architecture(function) -> str:
    return (function.inputs.get("architectures") or ["x86_64"])[0]


def lambda_functions(c: Context) -> list[Line]:
    lines = [c.line("Lambda", "requests, all functions", c.usage.invocations, "request", "lambda.request")]
    for name, function in sorted(c.graph.functions.items()):
        use = c.usage.function(name)
        memory_gb = float(function.inputs.get("memorySize", 128)) / 1024
        gb_seconds = use.busy_ms / 1000 * memory_gb
        arch = _architecture(function)
        warm = c.graph.provisioned(name)
        # Invocations below the warm instances' capacity run at the provisioned duration
        # rate; bursts above it would spill to on-demand (not modelled at this traffic).
        average_concurrency = use.busy_ms / 1000 / c.prices.seconds_per_month
        if warm and average_concurrency <= warm:
            price, how = f"lambda.{arch}.provisioned_duration_gb_second", "on provisioned instances"
        elif warm:
            raise ProfileError(f"{c.graph.stack}: {name} averages {average_concurrency:.1f} concurrent executions, "
                               f"above its {warm} provisioned: the spill-over is not modelled")
        else:
            price, how = f"lambda.{arch}.gb_second", "on demand"
        lines.append(c.line("Lambda", f"{name}: duration ({use.invocations:,.0f} invocations x "
                                      f"{use.busy_ms / max(use.invocations, 1):,.0f} ms, "
                                      f"{function.inputs.get('memorySize', 128):.0f} MB {arch}, {how})",
                            gb_seconds, "GB-second", price, name))
        ephemeral_mb = float((function.inputs.get("ephemeralStorage") or {}).get("size", 512))
        if ephemeral_mb > 512:
            lines.append(c.line("Lambda", f"{name}: ephemeral storage above 512 MB",
                                use.busy_ms / 1000 * (ephemeral_mb - 512) / 1024, "GB-second",
                                "lambda.ephemeral_gb_second", name))
    lines += _bedrock(c) + _custom_metrics(c)
    roots = c.usage.trace_roots.get("functions", 0.0)
    if roots:
        lines.append(c.line("X-Ray", f"traces of invocations outside the API ({c.usage.traced_share:.0%} of "
                                     f"{roots:,.0f} sampled)", roots * c.usage.traced_share, "trace",
                            "xray.trace_recorded"))
    return lines


def provisioned_concurrency(c: Context) -> list[Line]:
    lines = []
    for config in c.graph.of_type("aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig"):
        name = c.graph.catalog_name(config.inputs["functionName"])
        function = c.graph.functions[name]
        count = int(config.inputs["provisionedConcurrentExecutions"])
        memory_mb = float(function.inputs.get("memorySize", 128))
        arch = _architecture(function)
        lines.append(c.line("Lambda", f"{name}: provisioned concurrency ({count} x {memory_mb:.0f} MB {arch}, "
                                      f"{c.prices.hours_per_month} h)",
                            count * memory_mb / 1024 * c.prices.seconds_per_month, "GB-second",
                            f"lambda.{arch}.provisioned_gb_second", name))
    return lines


def _bedrock(c: Context) -> list[Line]:
    if not c.usage.model_id or not (c.usage.input_tokens or c.usage.output_tokens):
        return []
    model = c.prices.model(c.usage.model_id)
    jobs = ", ".join(f"{n:,.0f} {kind}" for kind, n in sorted(c.usage.jobs.items()))
    return [Line("Bedrock", f"{model.model_id}: input tokens ({jobs} jobs)", c.usage.input_tokens / 1000,
                 "1k tokens", model.input_per_1k, f"bedrock:{model.model_id}:input"),
            Line("Bedrock", f"{model.model_id}: output tokens", c.usage.output_tokens / 1000, "1k tokens",
                 model.output_per_1k, f"bedrock:{model.model_id}:output")]


def custom_metric_months(c: Context) -> tuple[int, float]:
    """(metric streams, metric-months) of the custom metrics the functions emit: each
    metric of a function's catalog entry is one totals stream plus one per combination of
    its breakdown dimensions' values (functions/common/observability.py)."""
    from functions.catalog import by_name

    catalog = by_name()
    spec = c.profile["metrics"]
    streams, months = 0, 0.0
    for name in sorted(c.graph.functions):
        if name not in catalog:
            raise ProfileError(f"{c.graph.stack}: {name} is not in functions/catalog.py: its metrics are unknown")
        for metric in catalog[name].custom_metrics:
            unknown = [d for d in metric.breakdown if d not in spec["values"]]
            if unknown:
                raise ProfileError(f"{metric.name}: no value count for the breakdown dimension(s) {unknown}")
            breakdown = metric.breakdown if spec.get("breakdown_streams", True) else ()
            count = 1 + (math.prod(spec["values"][d] for d in breakdown) if breakdown else 0)
            streams += count
            months += count * spec["hours_share"].get(metric.name, spec["hours_share"]["default"])
    return streams, months


def _custom_metrics(c: Context) -> list[Line]:
    streams, months = custom_metric_months(c)
    return [c.line("CloudWatch", f"custom metrics from the functions ({streams} metric streams, by hours with data)",
                   months, "metric-month", "cloudwatch.metric_month")] if streams else []


# -- API ----------------------------------------------------------------------------------

def api_requests(c: Context) -> list[Line]:
    return [c.line("API Gateway", f"REST requests ({len(c.graph.routes)} routes)", c.usage.api_requests,
                   "request", "apigateway.rest.request")]


def detailed_metrics_routes(graph: Graph) -> list:
    """The routes with detailed (per-method) metrics: a method's own setting wins over "*/*"."""
    settings = {s.inputs.get("methodPath", "*/*"): (s.inputs.get("settings") or {})
                for s in graph.of_type("aws:apigateway/methodSettings:MethodSettings")}
    return [r for r in graph.routes
            if settings.get(method_path(r), settings.get("*/*", {})).get("metricsEnabled")]


def method_settings(c: Context) -> list[Line]:
    routes = detailed_metrics_routes(c.graph)
    if not routes:
        return []
    per_method = c.profile["metrics"]["apigateway_per_method"]
    # A method's metrics are billed for the hours it is called in (Poisson arrivals).
    hours = c.prices.hours_per_month
    months = sum(per_method * (1 - math.exp(-c.usage.route_requests[r.key] / hours)) for r in routes)
    return [c.line("CloudWatch", f"API Gateway detailed metrics ({len(routes)} methods x {per_method}, by hours "
                                 f"with calls)", months, "metric-month", "cloudwatch.metric_month")]


def stage(c: Context) -> list[Line]:
    roots = c.usage.trace_roots.get("api", 0.0)
    lines = []
    if roots:
        lines.append(c.line("X-Ray", f"traces of API requests ({c.usage.traced_share:.0%} of {roots:,.0f} sampled)",
                            roots * c.usage.traced_share, "trace", "xray.trace_recorded"))
        lines.append(c.line("X-Ray", "traces retrieved or scanned by on-call", c.profile["xray"]["traces_retrieved"],
                            "trace", "xray.trace_retrieved"))
    return lines


def web_acl(c: Context) -> list[Line]:
    lines = []
    for acl in c.graph.of_type("aws:wafv2/webAcl:WebAcl"):
        rules = len(acl.inputs.get("rules", []))
        lines += [c.line("WAF", f"{acl.inputs['name']}: web ACL", 1, "web ACL-month", "waf.web_acl_month"),
                  c.line("WAF", f"{acl.inputs['name']}: rules", rules, "rule-month", "waf.rule_month"),
                  c.line("WAF", "requests inspected", c.usage.api_requests, "request", "waf.request")]
    return lines


def distribution(c: Context) -> list[Line]:
    lines = []
    for _ in c.graph.of_type("aws:cloudfront/distribution:Distribution"):
        requests = c.usage.api_requests
        lines += [c.line("CloudFront", "HTTPS requests (Europe)", requests, "request", "cloudfront.https_request"),
                  c.line("CloudFront", "data transfer out (Europe)", requests * c.profile["response_kb"] * KB / GB,
                         "GB", "cloudfront.transfer_out_gb"),
                  c.line("CloudFront", "data transfer to the origin", requests * c.profile["request_kb"] * KB / GB,
                         "GB", "cloudfront.transfer_to_origin_gb")]
    return lines


# -- DynamoDB -----------------------------------------------------------------------------

def _item(c: Context, item: str) -> dict:
    items = c.profile["dynamodb"]["items"]
    if item not in items:
        raise ProfileError(f"DynamoDB item kind {item!r} is not described under [dynamodb.items]")
    return items[item]


def table(c: Context) -> list[Line]:
    graph, table_ = c.graph, c.graph.table
    if table_.inputs.get("billingMode") != "PAY_PER_REQUEST":
        raise ProfileError(f"{graph.stack}: only on-demand tables are modelled")
    read_units = write_units = 0.0
    for operation, item, count in calls_of(c.usage, "dynamodb"):
        if operation in TABLE_READS:
            read_units += count  # strongly consistent, items under 4 KB
        elif operation in TABLE_WRITES:
            spec = _item(c, item)
            units = math.ceil(spec["kb"])
            indexes = graph.index_count if spec["indexed"] else 0
            # A transactional write costs two units per item; index writes are standard.
            write_units += count * (units * (2 if operation == "TransactWriteItems" else 1) + units * indexes)
        else:
            raise ProfileError(f"dynamodb.{operation}: no request-unit rule for this operation")
    users = c.profile["users"]
    kept = [spec for spec in c.profile["dynamodb"]["items"].values() if not spec.get("ttl")]  # TTL: gone in days
    base_gb = sum(users * spec["kb"] * KB for spec in kept) / GB
    index_gb = sum(users * spec["kb"] * KB * graph.index_count for spec in kept if spec["indexed"]) / GB
    name = table_.inputs["name"]
    lines = [c.line("DynamoDB", f"{name}: read request units", read_units, "RRU", "dynamodb.read_request_unit"),
             c.line("DynamoDB", f"{name}: write request units (each write to an indexed item also writes its "
                                f"{graph.index_count} indexes)", write_units, "WRU", "dynamodb.write_request_unit"),
             c.line("DynamoDB", f"{name}: storage ({users:,} users, indexes included)", base_gb + index_gb,
                    "GB-month", "dynamodb.storage_gb_month")]
    if (table_.inputs.get("pointInTimeRecovery") or {}).get("enabled"):
        lines.append(c.line("DynamoDB", f"{name}: point-in-time recovery", base_gb, "GB-month",
                            "dynamodb.pitr_gb_month"))
    return lines


# -- S3 -----------------------------------------------------------------------------------

def _objects_written(c: Context) -> float:
    return sum(n for operation, _, n in calls_of(c.usage, "s3") if operation in ("PutObject", "PostObject"))


def buckets(c: Context) -> list[Line]:
    graph, usage, profile = c.graph, c.usage, c.profile
    lines: list[Line] = []
    months = profile["months_in_operation"]
    for bucket in sorted(c.graph.of_type("aws:s3/bucket:Bucket"), key=lambda b: b.inputs["bucket"]):
        name = bucket.inputs["bucket"]
        role = graph.bucket_roles.get(name)
        if role == "jobs":
            gb_month = 0.0
            for kind, jobs in sorted(usage.jobs.items()):
                spec = profile["jobs"]["kinds"][kind]
                # the job deletes its input once read; its outcome stays until the lifecycle expires it
                deleted_by_job = "s3.DeleteObject" in spec.get("calls", {})
                input_days = 0.0 if deleted_by_job else graph.expiration_days(name, profile["jobs"]["prefix"]) or 0
                outcome_days = graph.expiration_days(name, profile["jobs"]["outcome_prefix"]) or DAYS_PER_MONTH
                gb_month += jobs * (spec["input_kb"] * input_days + spec["outcome_kb"] * outcome_days) * KB / GB
            lines.append(c.line("S3", f"{name}: job files until their lifecycle expiry", gb_month / DAYS_PER_MONTH,
                                "GB-month", "s3.standard.gb_month"))
        elif role == "audit":
            lines += _audit_storage(c, name, months)
        elif role == "query-results":
            spec = profile["analytics"]
            days = graph.expiration_days(name, "results/") or DAYS_PER_MONTH * months
            lines.append(c.line("S3", f"{name}: query results for {days:.0f} days",
                                spec["queries"] * spec["result_kb"] * KB / GB * days / DAYS_PER_MONTH,
                                "GB-month", "s3.standard.gb_month"))
        elif role == "artifacts":
            size = sum(os.path.getsize(o.inputs["source"].path) for o in
                       graph.of_type("aws:s3/bucketObjectv2:BucketObjectv2") if o.inputs["bucket"] == name)
            lines.append(c.line("S3", f"{name}: code archives", size / GB, "GB-month", "s3.standard.gb_month"))
        else:
            raise ProfileError(f"{graph.stack}: no usage modelled for the bucket {name} (nothing in the program "
                               f"says what it holds)")
    put = sum(n for operation, _, n in calls_of(usage, "s3") if operation in S3_PUT_TIER)
    get = sum(n for operation, _, n in calls_of(usage, "s3") if operation in S3_GET_TIER)
    unknown = sorted({op for op, _, _ in calls_of(usage, "s3")} - S3_PUT_TIER - S3_GET_TIER - S3_FREE)
    if unknown:
        raise ProfileError(f"s3.{unknown}: no request tier for these operations")
    analytics = profile["analytics"]
    # Athena reads one compacted object per day of its range and writes its result.
    put += analytics["queries"] if graph.of_type("aws:athena/workgroup:Workgroup") else 0
    get += analytics["queries"] * analytics["days_per_query"] if graph.of_type("aws:athena/workgroup:Workgroup") else 0
    lines += [c.line("S3", "PUT, POST and LIST requests (functions, app uploads, Athena results)", put, "request",
                     "s3.put_request"),
              c.line("S3", "GET and HEAD requests", get, "request", "s3.get_request")]
    return lines


def _audit_storage(c: Context, bucket: str, months: int) -> list[Line]:
    """Audit events as they stand in month `months`: one month of events per age, each in
    the storage class the bucket's lifecycle has moved it to; the small per-batch files
    compaction replaced stay as noncurrent versions until they expire."""
    graph, usage, spec = c.graph, c.usage, c.profile["stream"]
    prefix = "audit/"
    monthly_gb = usage.stream_records * spec["parquet_bytes_per_event"] / GB
    transitions = graph.transitions(bucket, prefix)
    expiry = graph.expiration_days(bucket, prefix)
    by_class: dict[str, float] = {}
    for age in range(months):
        days = (age + 0.5) * DAYS_PER_MONTH
        if expiry is not None and days >= expiry:
            continue
        storage_class = "STANDARD"
        for after, target in transitions:
            if days >= after:
                storage_class = target
        by_class[storage_class] = by_class.get(storage_class, 0.0) + monthly_gb
    noncurrent_days = max([float(r.get("noncurrentVersionExpiration", {}).get("noncurrentDays", 0))
                           for r in graph.lifecycle_rules(bucket)] or [0.0])
    keys = {"STANDARD": "s3.standard.gb_month", "STANDARD_IA": "s3.standard_ia.gb_month",
            "GLACIER_IR": "s3.glacier_ir.gb_month"}
    lines = [c.line("S3", f"{bucket}: audit events, {storage_class} (month {months} of operation)", gb, "GB-month",
                    keys[storage_class]) for storage_class, gb in sorted(by_class.items())]
    if noncurrent_days:
        lines.append(c.line("S3", f"{bucket}: per-batch files kept {noncurrent_days:.0f} days as noncurrent versions",
                            monthly_gb * noncurrent_days / DAYS_PER_MONTH, "GB-month", "s3.standard.gb_month"))
    objects_per_month = DAYS_PER_MONTH  # one compacted object per day
    oldest = (months - 0.5) * DAYS_PER_MONTH
    for after, target in transitions:
        if oldest < after:
            continue  # no object is that old yet
        key = {"STANDARD_IA": "s3.transition.standard_ia", "GLACIER_IR": "s3.transition.glacier_ir"}[target]
        lines.append(c.line("S3", f"{bucket}: lifecycle transitions to {target}", objects_per_month, "request", key))
    return lines


def bucket_objects(c: Context) -> list[Line]:
    return []  # their storage is on their bucket's line (role "artifacts")


# -- KMS, Secrets Manager -------------------------------------------------------------------

def keys(c: Context) -> list[Line]:
    graph, usage, spec = c.graph, c.usage, c.profile["kms"]
    days = c.profile["months_in_operation"] * DAYS_PER_MONTH
    all_keys = graph.of_type("aws:kms/key:Key")
    rotated = 0
    for key in all_keys:
        if key.inputs.get("enableKeyRotation"):
            period = float(key.inputs.get("rotationPeriodInDays", 365))
            rotated += min(2, int(days // period))  # only the first two rotations are charged
    asymmetric = [k for k in all_keys if k.inputs.get("customerMasterKeySpec", "SYMMETRIC_DEFAULT").startswith(
        ("ECC_", "RSA_"))]
    symmetric_calls = asymmetric_calls = 0.0
    for operation, _, count in calls_of(usage, "kms"):
        if operation in ASYMMETRIC_KMS:
            if not asymmetric:
                raise ProfileError(f"kms.{operation} is modelled but the stack has no asymmetric key")
            asymmetric_calls += count
        else:
            symmetric_calls += count
    # Requests services make with the storage key for the program.
    service = 0.0
    table_ = graph.table
    if table_ and (table_.inputs.get("serverSideEncryption") or {}).get("kmsKeyArn"):
        service += spec["table_key_requests"]
    service += spec["log_group_key_requests"] * sum(1 for g in graph.log_groups.values() if g.inputs.get("kmsKeyId"))
    service += sum(n for operation, _, n in calls_of(usage, "secretsmanager") if operation == "GetSecretValue")
    objects = sum(n for operation, _, n in calls_of(usage, "s3") if operation in S3_PUT_TIER | S3_GET_TIER)
    with_bucket_keys = all(graph.bucket_key_enabled(b.inputs["bucket"]) for b in graph.of_type("aws:s3/bucket:Bucket"))
    service += objects * (spec["bucket_key_requests_per_object"] if with_bucket_keys else 1)
    lines = [c.line("KMS", f"customer managed keys ({len(all_keys)})", len(all_keys), "key-month", "kms.key_month")]
    if rotated:
        lines.append(c.line("KMS", f"rotated key versions (month {c.profile['months_in_operation']})", rotated,
                            "key version-month", "kms.rotation_month"))
    lines += [c.line("KMS", "symmetric and HMAC requests (functions, and DynamoDB, Logs, S3, Secrets Manager for them)",
                     symmetric_calls + service, "request", "kms.symmetric_request")]
    if asymmetric_calls:
        lines.append(c.line("KMS", "asymmetric requests (access-token signatures)", asymmetric_calls, "request",
                            "kms.asymmetric_request"))
    return lines


def secrets(c: Context) -> list[Line]:
    count = len(c.graph.of_type("aws:secretsmanager/secret:Secret"))
    calls = sum(n for _, _, n in calls_of(c.usage, "secretsmanager"))
    return [c.line("Secrets Manager", f"secrets ({count})", count, "secret-month", "secretsmanager.secret_month"),
            c.line("Secrets Manager", "API calls", calls, "API call", "secretsmanager.api_call")]


# -- CloudWatch ----------------------------------------------------------------------------

def alarm_metrics(alarm) -> tuple[int, bool]:
    """(metrics the alarm is billed for, high resolution): one per metric a metric-math
    alarm reads, three for an anomaly detection band."""
    queries = alarm.inputs.get("metricQueries") or []
    if not queries:
        return 1, float(alarm.inputs.get("period", 60)) < 60
    metrics = [q["metric"] for q in queries if q.get("metric")]
    anomaly = any("ANOMALY_DETECTION_BAND" in (q.get("expression") or "") for q in queries)
    return len(metrics) * (3 if anomaly else 1), any(float(m.get("period", 60)) < 60 for m in metrics)


def metric_alarms(c: Context) -> list[Line]:
    standard = high = alarms_standard = alarms_high = 0
    for alarm in c.graph.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        metrics, high_resolution = alarm_metrics(alarm)
        if high_resolution:
            high, alarms_high = high + metrics, alarms_high + 1
        else:
            standard, alarms_standard = standard + metrics, alarms_standard + 1
    lines = [c.line("CloudWatch", f"metric alarms ({alarms_standard} alarms reading {standard} metrics)", standard,
                    "alarm metric-month", "cloudwatch.alarm_metric")]
    if high:
        lines.append(c.line("CloudWatch", f"high-resolution alarms ({alarms_high})", high, "alarm metric-month",
                            "cloudwatch.high_resolution_alarm_metric"))
    return lines


def composite_alarms(c: Context) -> list[Line]:
    count = len(c.graph.of_type("aws:cloudwatch/compositeAlarm:CompositeAlarm"))
    return [c.line("CloudWatch", "composite alarms", count, "alarm-month", "cloudwatch.composite_alarm")]


def dashboards(c: Context) -> list[Line]:
    found = c.graph.of_type("aws:cloudwatch/dashboard:Dashboard")
    return [c.line("CloudWatch", f"dashboards ({', '.join(sorted(d.inputs['dashboardName'] for d in found))})",
                   len(found), "dashboard-month", "cloudwatch.dashboard_month")]


def log_groups(c: Context) -> list[Line]:
    graph, usage, spec = c.graph, c.usage, c.profile["logs"]
    months_days = c.profile["months_in_operation"] * DAYS_PER_MONTH
    kinds: dict[tuple[str, float], list[float]] = {}
    for name, group in sorted(graph.log_groups.items()):
        kind = ("Lambda" if name.startswith("/aws/lambda/") else
                "API access" if name == graph.access_log_group else "API execution")
        retention = float(group.inputs.get("retentionInDays") or months_days)
        total = kinds.setdefault((kind, retention), [0.0, 0.0])
        total[0] += 1
        total[1] += usage.log_bytes.get(name, 0.0)
    lines = []
    ingested = 0.0
    for (kind, retention), (groups, bytes_) in sorted(kinds.items()):
        gb = bytes_ / GB
        ingested += gb
        kept_days = min(retention, months_days)
        lines += [c.line("CloudWatch", f"{kind} logs: ingestion ({groups:.0f} log groups)", gb, "GB",
                         "cloudwatch.logs.ingest_gb"),
                  c.line("CloudWatch", f"{kind} logs: storage ({retention:.0f} days' retention, compressed)",
                         gb * spec["stored_share"] * kept_days / DAYS_PER_MONTH, "GB-month",
                         "cloudwatch.logs.storage_gb_month")]
    scanned = spec["insights_queries"] * spec["insights_days_scanned"] * ingested / DAYS_PER_MONTH
    lines.append(c.line("CloudWatch", f"Logs Insights queries ({spec['insights_queries']} a month, a day of logs "
                                      f"each)", scanned, "GB scanned", "cloudwatch.logs.insights_gb"))
    return lines


# -- SNS, SQS --------------------------------------------------------------------------------

def topics(c: Context) -> list[Line]:
    spec = c.profile["notifications"]
    topics_ = c.graph.of_type("aws:sns/topic:Topic")
    emails = sum(1 for s in c.graph.of_type("aws:sns/topicSubscription:TopicSubscription")
                 if s.inputs.get("protocol") == "email")
    lines = [c.line("SNS", f"alarm notifications published ({len(topics_)} topics)",
                    spec["alarm_notifications"] * len(topics_), "request", "sns.publish")]
    lines.append(c.line("SNS", f"email deliveries ({emails} subscriptions)", spec["alarm_notifications"] * emails,
                        "email", "sns.email"))
    return lines


def queues(c: Context) -> list[Line]:
    count = len(c.graph.of_type("aws:sqs/queue:Queue"))
    # each failed event: one send, one receive and one delete when someone replays it
    return [c.line("SQS", f"failure queues ({count}): failed events sent, read, deleted",
                   c.profile["notifications"]["failed_events"] * 3, "request", "sqs.request")]


# -- Analytics --------------------------------------------------------------------------------

def athena_scanned_bytes(c: Context, bytes_per_event: float, column_share: float) -> float:
    """Bytes the month's queries scan: the events of their date range (partition
    pruning), the columns they read, at least 10 MB per query."""
    spec = c.profile["analytics"]
    events_per_day = c.usage.stream_records / DAYS_PER_MONTH
    per_query = events_per_day * spec["days_per_query"] * bytes_per_event * column_share
    return spec["queries"] * max(per_query, 10 * MB)


def workgroups(c: Context) -> list[Line]:
    lines = []
    for workgroup in c.graph.of_type("aws:athena/workgroup:Workgroup"):
        spec = c.profile["analytics"]
        scanned = athena_scanned_bytes(c, c.profile["stream"]["parquet_bytes_per_event"], spec["scanned_share"])
        lines.append(c.line("Athena", f"{workgroup.inputs['name']}: {spec['queries']} queries (10 MB minimum each)",
                            scanned / TB, "TB scanned", "athena.tb_scanned"))
    return lines


def glue_databases(c: Context) -> list[Line]:
    count = len(c.graph.of_type("aws:glue/catalogDatabase:CatalogDatabase"))
    return [c.line("Glue", f"Data Catalog databases ({count})", count, "object-month", "glue.catalog_object_month")]


def glue_tables(c: Context) -> list[Line]:
    tables = c.graph.of_type("aws:glue/catalogTable:CatalogTable")
    spec = c.profile["analytics"]
    return [c.line("Glue", f"Data Catalog tables ({len(tables)}, partition projection: no partition objects)",
                   len(tables), "object-month", "glue.catalog_object_month"),
            c.line("Glue", "Data Catalog requests of the queries", spec["queries"] * spec["glue_requests_per_query"],
                   "request", "glue.catalog_request")]


PRICERS: dict[str, Pricer] = {
    "aws:lambda/function:Function": lambda_functions,
    "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig": provisioned_concurrency,
    "aws:apigateway/restApi:RestApi": api_requests,
    "aws:apigateway/methodSettings:MethodSettings": method_settings,
    "aws:apigateway/stage:Stage": stage,
    "aws:dynamodb/table:Table": table,
    "aws:s3/bucket:Bucket": buckets,
    "aws:s3/bucketObjectv2:BucketObjectv2": bucket_objects,
    "aws:kms/key:Key": keys,
    "aws:secretsmanager/secret:Secret": secrets,
    "aws:cloudwatch/metricAlarm:MetricAlarm": metric_alarms,
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": composite_alarms,
    "aws:cloudwatch/dashboard:Dashboard": dashboards,
    "aws:cloudwatch/logGroup:LogGroup": log_groups,
    "aws:sns/topic:Topic": topics,
    "aws:sqs/queue:Queue": queues,
    "aws:wafv2/webAcl:WebAcl": web_acl,
    "aws:cloudfront/distribution:Distribution": distribution,
    "aws:athena/workgroup:Workgroup": workgroups,
    "aws:glue/catalogDatabase:CatalogDatabase": glue_databases,
    "aws:glue/catalogTable:CatalogTable": glue_tables,
}


class UnpricedType(ValueError):
    """A resource type of the graph is neither priced nor listed as free."""


def unpriced_types(graph: Graph, prices: PriceList) -> list[str]:
    return sorted(graph.aws_types - set(prices.priced) - set(prices.free))


def estimate(graph: Graph, profile: dict[str, Any], prices: PriceList) -> Estimate:
    unpriced = unpriced_types(graph, prices)
    if unpriced:
        raise UnpricedType(f"{graph.stack}: resource types neither priced nor free in the price list: {unpriced}")
    usage = derive(graph, profile, prices.seconds_per_month)
    context = Context(graph, usage, profile, prices)
    lines: list[Line] = []
    for type_ in sorted(graph.aws_types & set(prices.priced)):
        lines += PRICERS[type_](context)
    return Estimate(graph.stack, tuple(lines), usage, graph)


def api_document_with(graph: Graph, change: Callable[[dict], None]) -> Graph:
    """The graph with its API's OpenAPI document edited (what-if estimates)."""
    def edit(inputs: dict) -> dict:
        document = json.loads(inputs["body"])
        change(document)
        return {**inputs, "body": json.dumps(document)}
    return graph.with_inputs("aws:apigateway/restApi:RestApi", edit)
