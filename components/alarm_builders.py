"""Per-service alarm builders: what to alarm on for every function of the catalog (its
overrides applied), every custom metric with a threshold, the API and its routes, the
table, Bedrock, the KMS request quotas, the temp bucket and the web ACLs. The numbers
and metrics are here; what the alarms say to a human is components/runbook_text.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components import runbook_text as text
from components.alarm_specs import (
    CRITICAL,
    ERRORS_BY_REQUEST,
    FIVE_MINUTES,
    JOB_STORY,
    MINUTE,
    NAMESPACE,
    SLOWEST_REQUESTS,
    USER_REQUESTS,
    WARNING,
    AlarmSpec,
    Expression,
    Metric,
    StackNames,
)
from components.config import Settings
from components.waf import WebAcl
from functions.catalog import CustomMetric, Function, Route, S3Trigger, StreamTrigger, TableAccess


def _spec(
    resource: str, signal: str, prose: text.Prose, source: Metric | Expression, threshold: float, **options
) -> AlarmSpec:
    return AlarmSpec(resource, signal, prose.title, source, threshold, prose.impact, prose.checks, **options)


def _lambda(settings: Settings, fn: Function, name: str, statistic: str = "Sum") -> Metric:
    return Metric("AWS/Lambda", name, {"FunctionName": settings.name(fn.name)}, statistic)


def custom_metric(
    fn: Function, metric: CustomMetric, settings: Settings, statistic: str = "Sum", period_s: int = FIVE_MINUTES
) -> Metric:
    """The totals stream of a custom metric, exactly as `functions/common/observability.count`
    publishes it: namespace Serenya, dimensions service (the stack's project, the functions'
    POWERTOOLS_SERVICE_NAME), stack (their SERENYA_ENV: dev and prod share an account, and
    only this stack's own streams may move its alarms) and function (the catalog name)."""
    return Metric(NAMESPACE, metric.name, stream_dimensions(fn, settings), statistic, period_s)


def stream_dimensions(fn: Function, settings: Settings) -> dict[str, str]:
    """The totals stream's dimensions, in the order the functions emit them."""
    return {"service": settings.project, "stack": settings.env, "function": fn.name}


def _metric_id(metric: CustomMetric) -> str:
    # Metric math ids start with a lowercase letter: AuthorizerRejections -> authorizerRejections.
    return metric.name[0].lower() + metric.name[1:]


def failures(fn: Function, settings: Settings) -> tuple[Metric, Metric] | tuple[Expression, Expression]:
    """(errors that are real failures, invocations that could fail) of one function.

    Lambda counts every invocation that raises in AWS/Lambda Errors
    (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html), and a
    token authorizer must raise `Unauthorized` to make API Gateway answer 401
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html).
    The custom metrics the catalog marks `function_error` count those expected raises:
    they are subtracted, with the same statistic (Sum) and period, so only the other
    errors (unhandled exceptions, KMS or table failures, an import-time crash, a
    timeout) remain. FILL(m, 0) turns the periods without any refusal into 0 instead of
    missing data, without which `errors - m` would itself be missing and hide real
    errors (metric math functions:
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html).
    """
    errors, invocations = _lambda(settings, fn, "Errors"), _lambda(settings, fn, "Invocations")
    expected = [m for m in fn.custom_metrics if m.function_error]
    if not expected:
        return errors, invocations
    metrics = {"errors": errors, **{_metric_id(m): custom_metric(fn, m, settings) for m in expected}}
    subtracted = "".join(f" - FILL({_metric_id(m)}, 0)" for m in expected)
    names = ", ".join(m.name for m in expected)
    return (
        Expression(f"errors{subtracted}", metrics, f"errors other than {names}"),
        Expression(
            f"invocations{subtracted}", {**metrics, "invocations": invocations}, f"invocations other than {names}"
        ),
    )


def function_alarms(fn: Function, settings: Settings, names: StackNames) -> list[AlarmSpec]:
    timeout_ms = fn.timeout_s * 1000
    pair = failures(fn, settings)
    errors = pair[0]
    reserved = settings.reserved_for(fn.name)
    kind = "authorizer" if fn.is_authorizer else "routes" if fn.routes else "events"
    user_facing = text.USER_FACING[kind]
    expected = [m.name for m in fn.custom_metrics if m.function_error]
    prose = text.FUNCTION
    words = dict(
        fn=fn.name,
        physical=settings.name(fn.name),
        log_group=f"/aws/lambda/{settings.name(fn.name)}",
        description=fn.description,
        user_facing=user_facing,
        timeout_s=fn.timeout_s,
        excluding=text.EXCLUDING.format(expected=", ".join(expected)) if expected else "",
    )
    pool = "reserved" if reserved else "shared"
    throttles = prose["throttles"].format(
        **words,
        pool=text.THROTTLE_POOL[pool].format(reserved=reserved, account_concurrency=settings.account_concurrency),
        remedy=text.THROTTLE_REMEDY[pool],
    )
    stories = (JOB_STORY,) if isinstance(fn.trigger, S3Trigger) else ()
    rollback = (f"rollback:{fn.name}",)
    # A release of a function that writes the table may have written bad items.
    restore = ("restore-table",) if fn.table_access is TableAccess.READ_WRITE else ()
    if isinstance(pair[0], Expression):  # both are: failures() pairs like with like
        # One expression over the metrics of both: errors - FILL(x, 0) over invocations - FILL(x, 0).
        rate = Expression(
            f"100 * ({pair[0].expression}) / MAX([{pair[1].expression}, 1])",
            {**pair[0].metrics, **pair[1].metrics},
            "error %",
        )
    else:
        rate = Expression(
            "100 * errors / MAX([invocations, 1])", {"errors": pair[0], "invocations": pair[1]}, "error %"
        )
    specs = [
        _spec(
            fn.name,
            "errors",
            prose["errors"].format(**words),
            errors,
            10,
            severity=CRITICAL,
            queries=(ERRORS_BY_REQUEST, *stories),
            procedures=rollback + restore,
            playbook=text.FUNCTION_PLAYBOOKS[kind].format(**words),
        ),
        _spec(
            fn.name,
            "error-rate",
            prose["error-rate"].format(**words),
            rate,
            5,
            periods=3,
            datapoints=2,
            queries=(ERRORS_BY_REQUEST, *stories),
            procedures=rollback,
        ),
        _spec(fn.name, "throttles", throttles, _lambda(settings, fn, "Throttles"), 0, periods=3, datapoints=2),
        _spec(
            fn.name,
            "duration-p99",
            prose["duration-p99"].format(**words),
            _lambda(settings, fn, "Duration", "p99"),
            round(0.8 * timeout_ms),
            periods=3,
            datapoints=3,
            queries=(SLOWEST_REQUESTS,) if fn.routes else (),
            procedures=rollback,
        ),
    ]
    if reserved:  # only a reservation is a ceiling of the function's own
        specs.append(
            _spec(
                fn.name,
                "concurrency",
                prose["concurrency"].format(**words),
                _lambda(settings, fn, "ConcurrentExecutions", "Maximum"),
                round(0.8 * reserved),
                periods=2,
                datapoints=2,
                detailed=True,
            )
        )
    queue = names.failure_queues.get(fn.name)
    streamed = isinstance(fn.trigger, StreamTrigger)
    if streamed:
        specs.append(
            _spec(
                fn.name,
                "iterator-age",
                prose["iterator-age"].format(**words),
                _lambda(settings, fn, "IteratorAge", "Maximum"),
                60_000,
                periods=3,
                datapoints=3,
                queries=(ERRORS_BY_REQUEST,),
                procedures=(f"redrive:{fn.name}",),
            )
        )
    if queue:
        what = text.FAILED_WORK["stream" if streamed else "async"]
        specs.append(
            _spec(
                fn.name,
                "failed-events",
                prose["failed-events"].format(**words, what=what, queue=queue),
                Metric("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": queue}, "Maximum"),
                0,
                severity=CRITICAL if streamed else WARNING,
                queries=(ERRORS_BY_REQUEST, *stories),
                procedures=(f"redrive:{fn.name}",),
                playbook=text.FAILED_STREAM_PLAYBOOK.format(fn=fn.name) if streamed else None,
            )
        )
    return [_override(spec, fn.alarm_overrides.get(spec.signal)) for spec in specs]


def _override(spec: AlarmSpec, changes: Mapping[str, Any] | None) -> AlarmSpec:
    # The catalog types the values as object; `dataclasses.replace` checks the fields at run time.
    return dataclasses.replace(spec, **changes) if changes else spec


def custom_alarms(fn: Function, settings: Settings) -> list[AlarmSpec]:
    specs = []
    for metric in fn.custom_metrics:
        t = metric.alarm
        if t is None:
            continue
        # A per-run threshold's period is the run's rate in this stack: `periods` counts runs.
        period_s = settings.schedule_period_s(fn) if t.per_run else t.period_s
        source = custom_metric(fn, metric, settings, t.statistic, period_s)
        datapoints = t.datapoints or t.periods
        if t.periods == 1:
            template = text.CUSTOM_TITLE
        else:
            template = text.CUSTOM_TITLE_PERIODS if datapoints == t.periods else text.CUSTOM_TITLE_OF_PERIODS
        title = template.format(
            title=metric.title, value=t.value, minutes=period_s // 60, periods=t.periods, datapoints=datapoints
        )
        specs.append(
            AlarmSpec(
                fn.name,
                _kebab(metric.name),
                title,
                source,
                t.value,
                t.impact,
                t.checks,
                severity=t.severity,
                periods=t.periods,
                datapoints=datapoints,
                dashboard=metric.dashboards[0] if metric.dashboards else "operations",
                # A job's story where the metric counts jobs; elsewhere the errors behind it (the canary's step).
                queries=(JOB_STORY,) if isinstance(fn.trigger, S3Trigger) else (ERRORS_BY_REQUEST,),
                playbook=_formatted(text.METRIC_PLAYBOOKS.get(metric.name), fn=fn.name),
            )
        )
    return specs


def _formatted(playbook: text.Playbook | None, **values: object) -> text.Playbook | None:
    return playbook.format(**values) if playbook else None


def _kebab(name: str) -> str:
    return "".join(f"-{c.lower()}" if c.isupper() else c for c in name).lstrip("-")


def api_alarms(catalog: tuple[Function, ...], settings: Settings, names: StackNames) -> list[AlarmSpec]:
    api = {"ApiName": names.api, "Stage": names.stage}
    count = Metric("AWS/ApiGateway", "Count", api)
    five = Metric("AWS/ApiGateway", "5XXError", api)
    four = Metric("AWS/ApiGateway", "4XXError", api)
    specs = [
        _spec(
            "api",
            "5xx",
            text.API["5xx"],
            five,
            10,
            severity=CRITICAL,
            queries=(ERRORS_BY_REQUEST,),
            procedures=rollbacks(catalog),
            playbook=text.API_5XX_PLAYBOOK,
        ),
        _spec(
            "api",
            "5xx-rate",
            text.API["5xx-rate"],
            Expression("100 * errors / MAX([requests, 1])", {"errors": five, "requests": count}, "5XX %"),
            1,
            periods=3,
            datapoints=2,
            queries=(ERRORS_BY_REQUEST,),
            procedures=rollbacks(catalog),
        ),
        _spec(
            "api",
            "4xx-rate",
            text.API["4xx-rate"],
            Expression("100 * errors / MAX([requests, 1])", {"errors": four, "requests": count}, "4XX %"),
            15,
            periods=3,
            datapoints=3,
            detailed=True,
            dashboard="security",
            queries=(USER_REQUESTS,),
        ),
        _spec(
            "api",
            "latency-p99",
            text.API["latency-p99"],
            Metric("AWS/ApiGateway", "Latency", api, "p99"),
            2000,
            periods=3,
            datapoints=3,
            queries=(SLOWEST_REQUESTS,),
        ),
    ]
    for fn in catalog:
        for route in fn.routes:
            if route.latency_p99_ms is None:
                continue
            specs.append(
                _spec(
                    "api",
                    f"{route_slug(route)}-p99",
                    text.API["route-p99"].format(
                        method=route.method, path=route.path, target=route.latency_p99_ms, fn=fn.name
                    ),
                    Metric("AWS/ApiGateway", "Latency", {**api, "Resource": route.path, "Method": route.method}, "p99"),
                    route.latency_p99_ms,
                    periods=3,
                    datapoints=3,
                    detailed=True,
                    queries=(SLOWEST_REQUESTS,),
                    procedures=(f"rollback:{fn.name}",),
                )
            )
    return specs


def rollbacks(catalog: tuple[Function, ...]) -> tuple[str, ...]:
    """Rolling back one of the functions behind the API: whichever a release broke."""
    return tuple(f"rollback:{fn.name}" for fn in catalog if fn.routes or fn.is_authorizer)


def routes_read_per_method(catalog: tuple[Function, ...]) -> list[Route]:
    """The routes whose per-method AWS/ApiGateway metrics are read: those with a latency
    target, by their latency alarm (detailed stacks), their burn-rate alarms and the
    executive dashboard's error budget (indicators). Nothing reads the others' per-method
    metrics, so the stage does not pay for them (components/api.py)."""
    return [route for fn in catalog for route in fn.routes if route.latency_p99_ms is not None]


def route_slug(route: Route) -> str:
    """POST /api/v1/auth/oauth-signin -> auth-oauth-signin-post (path parameters dropped)."""
    return f"{route.path.removeprefix('/api/v1/').split('/{')[0].replace('/', '-')}-{route.method.lower()}"


# The operations the functions call, whose SystemErrors (published per operation) the
# table's alarm adds up and the operations dashboard shows.
TABLE_OPERATIONS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "TransactWriteItems")


def table_alarms(settings: Settings, names: StackNames) -> list[AlarmSpec]:
    table = {"TableName": names.table}
    operations = TABLE_OPERATIONS
    return [
        _spec(
            "table",
            "throttles",
            text.TABLE["throttles"],
            Expression(
                "reads + writes",
                {
                    "reads": Metric("AWS/DynamoDB", "ReadThrottleEvents", table),
                    "writes": Metric("AWS/DynamoDB", "WriteThrottleEvents", table),
                },
                "throttle events",
            ),
            0,
            severity=CRITICAL,
            queries=(ERRORS_BY_REQUEST,),
            playbook=text.TABLE_PLAYBOOKS["throttles"],
        ),
        _spec(
            "table",
            "system-errors",
            text.TABLE["system-errors"],
            Expression(
                " + ".join(f"m{i}" for i in range(len(operations))),
                {
                    f"m{i}": Metric("AWS/DynamoDB", "SystemErrors", {**table, "Operation": op})
                    for i, op in enumerate(operations)
                },
                "system errors",
            ),
            5,
            severity=CRITICAL,
            queries=(ERRORS_BY_REQUEST,),
            playbook=text.TABLE_PLAYBOOKS["system-errors"],
        ),
        _spec(
            "table",
            "user-errors",
            text.TABLE["user-errors"],
            Metric("AWS/DynamoDB", "UserErrors", {}),
            25,
            periods=3,
            datapoints=2,
            detailed=True,
            queries=(ERRORS_BY_REQUEST,),
        ),
    ]


def bedrock_alarms(settings: Settings) -> list[AlarmSpec]:
    """AWS/Bedrock is per account and model: every stack of the account using the model
    moves these, so they only warn. What pages is the stack's own ModelFailures metric."""
    model = {"ModelId": settings.bedrock_model_id}
    return [
        _spec(
            "bedrock",
            "errors",
            text.BEDROCK["errors"],
            Expression(
                "client + server",
                {
                    "client": Metric("AWS/Bedrock", "InvocationClientErrors", model),
                    "server": Metric("AWS/Bedrock", "InvocationServerErrors", model),
                },
                "errors",
            ),
            5,
            severity=WARNING,
            queries=(JOB_STORY,),
        ),
        _spec(
            "bedrock",
            "throttles",
            text.BEDROCK["throttles"],
            Metric("AWS/Bedrock", "InvocationThrottles", model),
            10,
            periods=3,
            datapoints=2,
        ),
        _spec(
            "bedrock",
            "latency",
            text.BEDROCK["latency"],
            Metric("AWS/Bedrock", "InvocationLatency", model, "p99"),
            60_000,
            periods=3,
            datapoints=3,
            detailed=True,
        ),
    ]


@dataclass(frozen=True)
class KmsQuota:
    """One KMS request quota the program's calls count against. AWS KMS "Request quotas"
    (https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html): the
    cryptographic operations on symmetric keys share one quota, HMAC keys included ("This
    quota applies to cryptographic operations with symmetric encryption keys and HMAC keys,
    which are also symmetric"); those on ECC keys share another; GetPublicKey has its own.
    KMS publishes the usage of a shared quota as one AWS/Usage metric, Resource
    `CryptographicOperationsSymmetric` (or `...Ecc`, `...Rsa`), and other operations under
    their own name: there is no per-operation metric of Decrypt to alarm on.
    `operations` are the ones AWS counts against it; `lowest_default` is the quota's
    smallest regional default (requests per second)."""

    key: str
    title: str
    resource: str  # the Resource dimension of its AWS/Usage CallCount
    operations: tuple[str, ...]
    lowest_default: int


KMS_QUOTAS = (
    KmsQuota(
        "kms-symmetric",
        "Cryptographic operations (symmetric)",
        "CryptographicOperationsSymmetric",
        (
            "Decrypt",
            "Encrypt",
            "GenerateDataKey",
            "GenerateDataKeyWithoutPlaintext",
            "GenerateMac",
            "GenerateRandom",
            "ReEncrypt",
            "VerifyMac",
        ),
        10_000,
    ),
    KmsQuota(
        "kms-ecc",
        "Cryptographic operations (ECC and SM2)",
        "CryptographicOperationsEcc",
        ("Sign", "Verify", "DeriveSharedSecret"),
        1_000,
    ),
    KmsQuota("kms-get-public-key", "GetPublicKey", "GetPublicKey", ("GetPublicKey",), 2_000),
)


def kms_usage(resource: str) -> Metric:
    """KMS calls counted per minute in AWS/Usage (Service KMS, Type API, Resource the quota's
    or the operation's name, Class None):
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Usage-Metrics.html"""
    return Metric(
        "AWS/Usage",
        "CallCount",
        {"Service": "KMS", "Type": "API", "Resource": resource, "Class": "None"},
        period_s=MINUTE,
    )


def kms_quota_alarm(quota: KmsQuota) -> AlarmSpec:
    """The quota's calls per second as a % of it: its one usage metric, which already sums
    every operation that shares the quota, over SERVICE_QUOTA of that same metric (AWS
    Security Blog, "Manage your AWS KMS API request rates using Service Quotas and Amazon
    CloudWatch"). FILL counts a quiet minute as 0 rather than as missing data."""
    return _spec(
        "kms",
        f"{quota.key.removeprefix('kms-')}-quota",
        text.KMS_QUOTA.format(title=quota.title, operations=", ".join(quota.operations[:3])),
        Expression(
            "100 * FILL(usage, 0) / PERIOD(usage) / SERVICE_QUOTA(usage)",
            {"usage": kms_usage(quota.resource)},
            "% of quota",
        ),
        80,
        periods=3,
        datapoints=2,
        dashboard="security",
    )


def waf_alarm(acl: WebAcl) -> AlarmSpec:
    """Blocked requests of one web ACL, where and with the dimensions WAF publishes them."""
    where = text.WAF_WHERE["REGIONAL" if acl.scope == "REGIONAL" else "CLOUDFRONT"]
    region = acl.region if acl.scope == "CLOUDFRONT" else None  # None: the stack's region
    return _spec(
        acl.key,
        "blocked",
        text.WAF_BLOCKED.format(where=where, acl=acl.name),
        Metric("AWS/WAFV2", "BlockedRequests", acl.dimensions, region=region),
        1000,
        region=region,
        dashboard="security",
    )


def platform_alarms(settings: Settings, names: StackNames) -> list[AlarmSpec]:
    specs = [kms_quota_alarm(q) for q in KMS_QUOTAS]
    specs.append(
        _spec(
            "temp-bucket",
            "objects",
            text.TEMP_BUCKET_OBJECTS,
            Metric(
                "AWS/S3",
                "NumberOfObjects",
                {"BucketName": names.temp_bucket, "StorageType": "AllStorageTypes"},
                "Average",
                86_400,
            ),
            100_000,
            missing="ignore",
        )
    )
    specs += [waf_alarm(acl) for acl in names.web_acls]
    return specs
