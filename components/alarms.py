"""Alarm definitions as data, generated from the catalog and the stack's resources.

Nothing here names a function: every catalog entry gets the same per-function alarms
(its overrides applied), every custom metric with a threshold gets one, the services
get theirs, and every objective of the catalog (functions/catalog.py: AVAILABILITY, a
route's latency objective) gets multi-window burn-rate alarms. `all_alarms` lists the
metric alarms, `composite_alarms` the alarms on their states (burn rates, and the one
that pages). `components/observability.py` renders the definitions as CloudWatch
alarms; `components/runbooks.py` renders the same definitions as docs/runbooks.md; the
local stack evaluates them. Pure Python: they can be read and tested without Pulumi.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional

from components.config import Settings
from components.waf import WebAcl
from functions.catalog import (AUTHORIZER, AVAILABILITY, CustomMetric, Function, Objective, Route, S3Trigger,
                               StreamTrigger, TableAccess)

CRITICAL, WARNING = "critical", "warning"
NAMESPACE = "Serenya"  # the functions' POWERTOOLS_METRICS_NAMESPACE (components/processing.py)
MINUTE, HOUR, DAY = 60, 3600, 86_400
FIVE_MINUTES = 5 * MINUTE
DESCRIPTION_LIMIT = 1024  # CloudWatch's limit for an alarm description
COMPOSITE = "service-degraded"  # the stack's one paging alarm (key of its CompositeSpec)
# Saved Logs Insights queries (components/queries.py) an alarm's runbook section offers.
ERRORS_BY_REQUEST, SLOWEST_REQUESTS, USER_REQUESTS, JOB_STORY = (
    "errors-by-request", "slowest-requests", "user-requests", "job-story")


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    dimensions: Mapping[str, str]
    statistic: str = "Sum"  # Sum, Average, Maximum, p99...
    period_s: int = FIVE_MINUTES
    region: Optional[str] = None  # a metric published in another region (WAF for CloudFront)


@dataclass(frozen=True)
class Expression:
    """Metric math over named metrics, e.g. 100 * errors / invocations."""
    expression: str
    metrics: Mapping[str, Metric]
    label: str


@dataclass(frozen=True)
class AlarmSpec:
    """One CloudWatch metric alarm: `source` compared with `threshold`, `datapoints` out of
    `periods` periods (each the source's `period_s`) breaching."""
    resource: str             # what it watches: a function name, "api", "table", "bedrock"...
    signal: str               # what about it: errors, throttles, duration-p99...
    title: str                # one line for humans
    source: Metric | Expression
    threshold: float
    impact: str
    checks: tuple[str, str, str]
    severity: str = WARNING
    comparison: str = "GreaterThanThreshold"
    periods: int = 1
    datapoints: int = 1
    missing: str = "notBreaching"
    detailed: bool = False    # only where the stack turns detailed alarms on
    region: Optional[str] = None
    # The key of the CompositeSpec this alarm is an input of (one window of a burn rate):
    # it notifies nobody by itself and never feeds the paging alarm directly; the composite does.
    part_of: Optional[str] = None
    dashboard: str = "operations"     # executive, operations or security: linked from description and runbook
    queries: tuple[str, ...] = ()     # saved Logs Insights queries its runbook section offers (components/queries.py)
    procedures: tuple[str, ...] = ()  # procedures its runbook section spells out (components/procedures.py)

    @property
    def key(self) -> str:
        return f"{self.resource}-{self.signal}"

    def name(self, settings: Settings) -> str:
        return settings.name(self.resource, self.signal)


@dataclass(frozen=True)
class CompositeSpec:
    """One CloudWatch composite alarm: in ALARM when its rule over other alarms' states holds.

    The rule joins ALARM("<name>") of every input (the keys of AlarmSpecs or of composites
    listed before it) with one `operator`: AND (all at once: a burn rate's long and short
    window) or OR (any: the paging alarm). `rule()` renders it in CloudWatch's composite
    grammar (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutCompositeAlarm.html).
    Severity works as for metric alarms: every composite mails the warning topic, a critical
    one also feeds the paging composite, and the paging composite (`pages`) alone notifies
    the critical topic."""
    resource: str
    signal: str
    title: str
    inputs: tuple[str, ...]
    operator: str             # "AND" or "OR"
    impact: str
    checks: tuple[str, str, str]
    severity: str = WARNING
    pages: bool = False
    dashboard: str = "operations"
    queries: tuple[str, ...] = ()
    procedures: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.resource}-{self.signal}"

    def name(self, settings: Settings) -> str:
        return settings.name(self.resource, self.signal)

    def rule(self, settings: Settings) -> str:
        return composite_rule([settings.name(key) for key in self.inputs], self.operator)


COMPOSITE_RULE_LIMIT = 10_240  # characters: PutCompositeAlarm's AlarmRule


def composite_rule(alarm_names: list[str], operator: str = "OR") -> str:
    if operator not in ("AND", "OR") or not alarm_names:
        raise ValueError(f"a composite rule joins at least one alarm with AND or OR, not {operator!r}")
    rule = f" {operator} ".join(f'ALARM("{n}")' for n in alarm_names)
    if len(rule) > COMPOSITE_RULE_LIMIT:
        raise ValueError(f"composite alarm rule is {len(rule)} characters, over CloudWatch's {COMPOSITE_RULE_LIMIT}")
    return rule


@dataclass(frozen=True)
class StackNames:
    """Physical names the alarms watch (plain strings, resolved)."""
    table: str
    temp_bucket: str
    api: str
    stage: str
    web_acls: tuple[WebAcl, ...] = ()  # components/waf.web_acls: CloudFront's, the stage's
    failure_queues: Mapping[str, str] = field(default_factory=dict)  # function -> queue name


def _lambda(settings: Settings, fn: Function, name: str, statistic: str = "Sum") -> Metric:
    return Metric("AWS/Lambda", name, {"FunctionName": settings.name(fn.name)}, statistic)


def custom_metric(fn: Function, metric: CustomMetric, settings: Settings, statistic: str = "Sum",
                  period_s: int = FIVE_MINUTES) -> Metric:
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


def failures(fn: Function, settings: Settings) -> tuple[Metric | Expression, Metric]:
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
    return (Expression(f"errors{subtracted}", metrics, f"errors other than {names}"),
            Expression(f"invocations{subtracted}", {**metrics, "invocations": invocations},
                       f"invocations other than {names}"))


def function_alarms(fn: Function, settings: Settings, names: StackNames) -> list[AlarmSpec]:
    timeout_ms = fn.timeout_s * 1000
    errors, attempts = failures(fn, settings)
    reserved = settings.reserved_for(fn.name)
    if fn.is_authorizer:
        user_facing = "API callers get 500 (AUTHORIZER_FAILURE) on authorized routes"
    else:
        user_facing = "API callers get errors" if fn.routes else "jobs or events are delayed or retried"
    expected = [m.name for m in fn.custom_metrics if m.function_error]
    excluding = f" (not counting {', '.join(expected)}, expected answers it gives by raising)" if expected else ""
    stories = (JOB_STORY,) if isinstance(fn.trigger, S3Trigger) else ()
    rollback = (f"rollback:{fn.name}",)
    # A release of a function that writes the table may have written bad items.
    restore = ("restore-table",) if fn.table_access is TableAccess.READ_WRITE else ()
    if isinstance(errors, Expression):
        # One expression over the metrics of both: errors - FILL(x, 0) over invocations - FILL(x, 0).
        rate = Expression(f"100 * ({errors.expression}) / MAX([{attempts.expression}, 1])",
                          {**errors.metrics, **attempts.metrics}, "error %")
    else:
        rate = Expression("100 * errors / MAX([invocations, 1])", {"errors": errors, "invocations": attempts},
                          "error %")
    specs = [
        AlarmSpec(fn.name, "errors", f"{fn.name} fails more than 10 times in 5 minutes{excluding}", errors, 10,
                  f"{user_facing}. The function: {fn.description}.",
                  (f"Logs of /aws/lambda/{settings.name(fn.name)}: level ERROR, the exception type",
                   "Did a deployment just happen? Compare with the previous version",
                   "Are its dependencies healthy (DynamoDB, S3, KMS, Bedrock on the operations dashboard)?"),
                  severity=CRITICAL, queries=(ERRORS_BY_REQUEST, *stories), procedures=rollback + restore),
        AlarmSpec(fn.name, "error-rate", f"more than 5% of {fn.name} invocations fail{excluding}",
                  rate, 5,
                  f"A share of requests fail for users: {user_facing}.",
                  ("Operations dashboard: is it one function or all of them?",
                   f"Logs of /aws/lambda/{settings.name(fn.name)}: the most frequent exception",
                   "Roll back the last deployment if the rate started with it"),
                  periods=3, datapoints=2, queries=(ERRORS_BY_REQUEST, *stories), procedures=rollback),
        AlarmSpec(fn.name, "throttles", f"{fn.name} is throttled", _lambda(settings, fn, "Throttles"), 0,
                  "Requests are refused (429 at the API) or delayed: concurrency is exhausted.",
                  (f"ConcurrentExecutions of {settings.name(fn.name)} against "
                   + (f"its reserved {reserved}" if reserved else
                      f"the account's unreserved pool (serenya:accountConcurrency {settings.account_concurrency})"),
                   "Is traffic legitimate (API count, WAF dashboard) or a client retry storm?",
                   "Raise serenya:reservedConcurrency if the load is real" if reserved else
                   "Other functions of the account (dev and prod share it) using the pool? Ask AWS for a "
                   "higher concurrency quota if the load is real"),
                  periods=3, datapoints=2),
        AlarmSpec(fn.name, "duration-p99", f"{fn.name} p99 duration above 80% of its {fn.timeout_s}s timeout",
                  _lambda(settings, fn, "Duration", "p99"), round(0.8 * timeout_ms),
                  "Slow answers now, timeouts soon: invocations close to the timeout fail.",
                  ("Operations dashboard: which dependency got slower (DynamoDB, S3, Bedrock latency)?",
                   "X-Ray traces of the slowest invocations",
                   "Cold starts: did memory or package size change in the last deployment?"),
                  periods=3, datapoints=3, queries=(SLOWEST_REQUESTS,) if fn.routes else (), procedures=rollback),
    ]
    if reserved:  # only a reservation is a ceiling of the function's own
        specs.append(AlarmSpec(
            fn.name, "concurrency", f"{fn.name} uses over 80% of its reserved concurrency",
            _lambda(settings, fn, "ConcurrentExecutions", "Maximum"), round(0.8 * reserved),
            "Throttling is near: new requests will soon be refused.",
            ("API request count and sources: real growth or a retry storm?",
             f"Duration of {fn.name}: slower invocations hold concurrency longer",
             "Raise serenya:reservedConcurrency if the load is real"),
            periods=2, datapoints=2, detailed=True))
    queue = names.failure_queues.get(fn.name)
    if isinstance(fn.trigger, StreamTrigger):
        specs.append(AlarmSpec(
            fn.name, "iterator-age", f"{fn.name} is more than a minute behind the table stream",
            _lambda(settings, fn, "IteratorAge", "Maximum"), 60_000,
            "Audit events arrive late; past the maximum record age they go to the failure queue.",
            (f"Errors and throttles of {fn.name}", "Batch duration: are writes to the events bucket slow?",
             "The failure queue: are batches being dropped?"), periods=3, datapoints=3,
            queries=(ERRORS_BY_REQUEST,), procedures=(f"redrive:{fn.name}",)))
    if queue:
        what = "failed stream batches" if isinstance(fn.trigger, StreamTrigger) else "failed asynchronous events"
        specs.append(AlarmSpec(
            fn.name, "failed-events", f"{what} of {fn.name} are waiting in {queue}",
            Metric("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": queue}, "Maximum"), 0,
            "Some work was given up after retries (a job stuck, events not written) and needs replaying.",
            (f"Read a message of {queue}: the condition and the error",
             f"Logs of {fn.name} around the message's time",
             "Fix the cause, then redrive the messages to the function"),
            severity=CRITICAL if isinstance(fn.trigger, StreamTrigger) else WARNING,
            queries=(ERRORS_BY_REQUEST, *stories), procedures=(f"redrive:{fn.name}",)))
    return [_override(spec, fn.alarm_overrides.get(spec.signal)) for spec in specs]


def _override(spec: AlarmSpec, changes: Optional[Mapping[str, object]]) -> AlarmSpec:
    return dataclasses.replace(spec, **changes) if changes else spec


def custom_alarms(fn: Function, settings: Settings) -> list[AlarmSpec]:
    specs = []
    for metric in fn.custom_metrics:
        t = metric.alarm
        if t is None:
            continue
        source = custom_metric(fn, metric, settings, t.statistic, t.period_s)
        specs.append(AlarmSpec(fn.name, _kebab(metric.name), f"{metric.title} above {t.value:g} in "
                               f"{t.period_s // 60} minutes", source, t.value, t.impact, t.checks,
                               severity=t.severity, periods=t.periods, datapoints=t.periods,
                               dashboard=metric.dashboards[0] if metric.dashboards else "operations",
                               queries=(JOB_STORY,) if isinstance(fn.trigger, S3Trigger) else ()))
    return specs


def _kebab(name: str) -> str:
    return "".join(f"-{c.lower()}" if c.isupper() else c for c in name).lstrip("-")


def api_alarms(catalog: tuple[Function, ...], settings: Settings, names: StackNames) -> list[AlarmSpec]:
    api = {"ApiName": names.api, "Stage": names.stage}
    count = Metric("AWS/ApiGateway", "Count", api)
    five = Metric("AWS/ApiGateway", "5XXError", api)
    four = Metric("AWS/ApiGateway", "4XXError", api)
    specs = [
        AlarmSpec("api", "5xx", "the API answered more than 10 server errors in 5 minutes", five, 10,
                  "App users see failures across features.",
                  ("Operations dashboard: which function's errors rose at the same time?",
                   "API access logs: errorType and integrationStatus of the 5XX answers",
                   "Authorizer errors: AUTHORIZER_FAILURE answers mean the authorizer itself fails"),
                  severity=CRITICAL, queries=(ERRORS_BY_REQUEST,), procedures=_rollbacks(catalog)),
        AlarmSpec("api", "5xx-rate", "over 1% of API requests fail with 5XX",
                  Expression("100 * errors / MAX([requests, 1])", {"errors": five, "requests": count}, "5XX %"), 1,
                  "A share of app requests fail.",
                  ("Same checks as the 5xx alarm", "Is it one route? The route of the errors in the errors-by-request query",
                   "Roll back the last deployment if it started with it"), periods=3, datapoints=2,
                  queries=(ERRORS_BY_REQUEST,), procedures=_rollbacks(catalog)),
        AlarmSpec("api", "4xx-rate", "over 15% of API requests are refused with 4XX",
                  Expression("100 * errors / MAX([requests, 1])", {"errors": four, "requests": count}, "4XX %"), 15,
                  "Users are refused: an app release sending bad requests, expired sessions, or probing.",
                  ("API access logs: status and resourcePath of the 4XX answers",
                   "Security dashboard: authorizer rejections and WAF blocks",
                   "Did an app release change a request shape (422 validation_error)?"),
                  periods=3, datapoints=3, detailed=True, dashboard="security", queries=(USER_REQUESTS,)),
        AlarmSpec("api", "latency-p99", "API p99 latency above 2 seconds",
                  Metric("AWS/ApiGateway", "Latency", api, "p99"), 2000,
                  "The app feels slow everywhere.",
                  ("IntegrationLatency vs Latency: the functions or the gateway?",
                   "Function durations and cold starts on the operations dashboard",
                   "DynamoDB and KMS latency"), periods=3, datapoints=3, queries=(SLOWEST_REQUESTS,)),
    ]
    for fn in catalog:
        for route in fn.routes:
            if route.latency_p99_ms is None:
                continue
            specs.append(AlarmSpec(
                "api", f"{route_slug(route)}-p99",
                f"{route.method} {route.path} p99 above its {route.latency_p99_ms} ms target",
                Metric("AWS/ApiGateway", "Latency", {**api, "Resource": route.path, "Method": route.method}, "p99"),
                route.latency_p99_ms, f"{route.method} {route.path} is slower than promised.",
                (f"Duration and cold starts of {fn.name} (provisioned concurrency in prod?)",
                 "X-Ray traces of slow requests of this route",
                 "Latency of what it calls (DynamoDB, S3, KMS)"),
                periods=3, datapoints=3, detailed=True, queries=(SLOWEST_REQUESTS,),
                procedures=(f"rollback:{fn.name}",)))
    return specs


def routes_read_per_method(catalog: tuple[Function, ...]) -> list[Route]:
    """The routes whose per-method AWS/ApiGateway metrics are read: those with a latency
    target, by their latency alarm (detailed stacks), their burn-rate alarms and the
    executive dashboard's error budget (indicators). Nothing reads the others' per-method
    metrics, so the stage does not pay for them (components/api.py)."""
    return [route for fn in catalog for route in fn.routes if route.latency_p99_ms is not None]


def route_slug(route: Route) -> str:
    """POST /api/v1/auth/oauth-signin -> auth-oauth-signin-post (path parameters dropped)."""
    return f"{route.path.removeprefix('/api/v1/').split('/{')[0].replace('/', '-')}-{route.method.lower()}"


def table_alarms(settings: Settings, names: StackNames) -> list[AlarmSpec]:
    table = {"TableName": names.table}
    operations = ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "TransactWriteItems")
    return [
        AlarmSpec("table", "throttles", "DynamoDB throttles reads or writes of the table",
                  Expression("reads + writes", {
                      "reads": Metric("AWS/DynamoDB", "ReadThrottleEvents", table),
                      "writes": Metric("AWS/DynamoDB", "WriteThrottleEvents", table)}, "throttle events"), 0,
                  "Sign-ins, profiles and subscriptions fail or slow down.",
                  ("Which operation and key: CloudWatch Contributor Insights or the functions' logs",
                   "A hot partition (one user hammered) or a burst beyond on-demand's doubling?",
                   "Function retries: are clients retrying in a storm?"), severity=CRITICAL,
                  queries=(ERRORS_BY_REQUEST,)),
        AlarmSpec("table", "system-errors", "DynamoDB returns internal errors",
                  Expression(" + ".join(f"m{i}" for i in range(len(operations))), {
                      f"m{i}": Metric("AWS/DynamoDB", "SystemErrors", {**table, "Operation": op})
                      for i, op in enumerate(operations)}, "system errors"), 5,
                  "Account requests fail intermittently.",
                  ("AWS Health Dashboard for DynamoDB in the region",
                   "Functions' error logs: which operations fail",
                   "The SDK retries these: do the functions' errors rise too?"), severity=CRITICAL,
                  queries=(ERRORS_BY_REQUEST,)),
        AlarmSpec("table", "user-errors", "DynamoDB rejects requests as invalid (account-wide)",
                  Metric("AWS/DynamoDB", "UserErrors", {}), 25,
                  "A code path sends invalid requests: some feature fails for users.",
                  ("Functions' logs: ValidationException and the operation",
                   "Did a deployment change an item shape or an expression?",
                   "Other applications in the account also count here"), periods=3, datapoints=2, detailed=True,
                  queries=(ERRORS_BY_REQUEST,)),
    ]


def bedrock_alarms(settings: Settings) -> list[AlarmSpec]:
    """AWS/Bedrock is per account and model: every stack of the account using the model
    moves these, so they only warn. What pages is the stack's own ModelFailures metric."""
    model = {"ModelId": settings.bedrock_model_id}
    return [
        AlarmSpec("bedrock", "errors", "Bedrock invocations fail (every stack of the account using the model)",
                  Expression("client + server", {
                      "client": Metric("AWS/Bedrock", "InvocationClientErrors", model),
                      "server": Metric("AWS/Bedrock", "InvocationServerErrors", model)}, "errors"), 5,
                  "Lab analyses, chat answers and doctor reports fail.",
                  ("AWS Health for Bedrock in the region",
                   "Model access: is the model still enabled for the account?",
                   "process logs: error codes of the refused calls; ModelFailures shows whether this stack "
                   "is affected"), severity=WARNING, queries=(JOB_STORY,)),
        AlarmSpec("bedrock", "throttles", "Bedrock throttles our invocations",
                  Metric("AWS/Bedrock", "InvocationThrottles", model), 10,
                  "Jobs take longer (retries) and may fail as model_unavailable.",
                  ("Tokens per minute on the operations dashboard against the account's quota",
                   "Service Quotas: request a higher on-demand quota for the model",
                   "Is one user flooding chat? Jobs by kind"), periods=3, datapoints=2),
        AlarmSpec("bedrock", "latency", "Bedrock p99 latency above 60 seconds",
                  Metric("AWS/Bedrock", "InvocationLatency", model, "p99"), 60_000,
                  "Results arrive slowly; near the process timeout jobs fail.",
                  ("Output tokens per job: did prompts or documents grow?",
                   "AWS Health for Bedrock", "Consider a faster model profile in serenya:bedrockModelId"),
                  periods=3, datapoints=3, detailed=True),
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
    resource: str                      # the Resource dimension of its AWS/Usage CallCount
    operations: tuple[str, ...]
    lowest_default: int


KMS_QUOTAS = (
    KmsQuota("kms-symmetric", "Cryptographic operations (symmetric)", "CryptographicOperationsSymmetric",
             ("Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateMac",
              "GenerateRandom", "ReEncrypt", "VerifyMac"), 10_000),
    KmsQuota("kms-ecc", "Cryptographic operations (ECC and SM2)", "CryptographicOperationsEcc",
             ("Sign", "Verify", "DeriveSharedSecret"), 1_000),
    KmsQuota("kms-get-public-key", "GetPublicKey", "GetPublicKey", ("GetPublicKey",), 2_000),
)


def kms_usage(resource: str) -> Metric:
    """KMS calls counted per minute in AWS/Usage (Service KMS, Type API, Resource the quota's
    or the operation's name, Class None):
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Usage-Metrics.html"""
    return Metric("AWS/Usage", "CallCount", {"Service": "KMS", "Type": "API", "Resource": resource, "Class": "None"},
                  period_s=MINUTE)


def kms_quota_alarm(quota: KmsQuota) -> AlarmSpec:
    """The quota's calls per second as a % of it: its one usage metric, which already sums
    every operation that shares the quota, over SERVICE_QUOTA of that same metric (AWS
    Security Blog, "Manage your AWS KMS API request rates using Service Quotas and Amazon
    CloudWatch"). FILL counts a quiet minute as 0 rather than as missing data."""
    return AlarmSpec(
        "kms", f"{quota.key.removeprefix('kms-')}-quota",
        f"KMS {quota.title} requests above 80% of the account's quota",
        Expression("100 * FILL(usage, 0) / PERIOD(usage) / SERVICE_QUOTA(usage)", {"usage": kms_usage(quota.resource)},
                   "% of quota"), 80,
        "KMS will start throttling: sign-ins, profiles and uploads fail.",
        (f"Which function calls {', '.join(quota.operations[:3])} most (security dashboard: KMS calls per minute)?",
         "Other applications and stacks sharing the account's KMS quota in the region",
         f"Service Quotas: request an increase of KMS '{quota.title} request rate'"),
        periods=3, datapoints=2, dashboard="security")


def waf_alarm(acl: WebAcl) -> AlarmSpec:
    """Blocked requests of one web ACL, where and with the dimensions WAF publishes them."""
    where = "the stage's own web ACL (the execute-api endpoint)" if acl.scope == "REGIONAL" \
        else "CloudFront's web ACL"
    region = acl.region if acl.scope == "CLOUDFRONT" else None  # None: the stack's region
    return AlarmSpec(
        acl.key, "blocked", f"{where} blocks over 1,000 requests in 5 minutes",
        Metric("AWS/WAFV2", "BlockedRequests", acl.dimensions, region=region), 1000,
        "An attack or a misbehaving client; legitimate users may be blocked by the rate rule.",
        (f"Security dashboard: which rule of {acl.name} blocks (rate-per-ip, common, known bad inputs)",
         "WAF sampled requests: source IPs and paths",
         "If users are blocked by SizeRestrictions or the rate rule, tune it in components/waf.py"),
        region=region, dashboard="security")


def platform_alarms(settings: Settings, names: StackNames) -> list[AlarmSpec]:
    specs = [kms_quota_alarm(q) for q in KMS_QUOTAS]
    specs.append(
        AlarmSpec("temp-bucket", "objects", "the temp bucket holds over 100,000 job files",
                  Metric("AWS/S3", "NumberOfObjects", {"BucketName": names.temp_bucket, "StorageType": "AllStorageTypes"},
                         "Average", 86_400), 100_000,
                  "Job files are not expiring: health data stays longer than the promised 2 days.",
                  ("The bucket's lifecycle rules (incoming/, outgoing/ expire after 2 days)",
                   "Is something writing outside incoming/ and outgoing/?",
                   "Upload volume on the executive dashboard: real growth?"), missing="ignore"))
    specs += [waf_alarm(acl) for acl in names.web_acls]
    return specs


# -- objectives: multi-window burn rates ------------------------------------------------

@dataclass(frozen=True)
class BurnRate:
    """A multi-window burn-rate alert of the SRE workbook ("Alerting on SLOs", recipe 6:
    https://sre.google/workbook/alerting-on-slos/): it fires while the error budget is spent
    fast enough to consume `budget_share` of it within the long window, measured over that
    window and confirmed over the short one (1/12 of it), which also ends the alert soon
    after the burn stops. Each window is one metric alarm whose period is the window."""
    name: str
    budget_share: float
    long_s: int
    short_s: int
    severity: str

    def factor(self, objective: Objective) -> float:
        """The burn rate, how many times faster than the objective allows: spending 2% of a
        30-day budget in 1 hour is 0.02 x 720 h / 1 h = 14.4; 5% in 6 hours is 6."""
        return round(self.budget_share * objective.window_days * DAY / self.long_s, 6)

    def threshold(self, objective: Objective) -> float:
        """The share of bad events burning at that rate: 14.4 x (1 - 0.999) = 1.44%."""
        return round(self.factor(objective) * objective.budget, 10)


FAST_BURN = BurnRate("fast-burn", 0.02, HOUR, 5 * MINUTE, CRITICAL)      # pages
SLOW_BURN = BurnRate("slow-burn", 0.05, 6 * HOUR, 30 * MINUTE, WARNING)  # a ticket: mails the warning topic
BURN_RATES = (FAST_BURN, SLOW_BURN)
# A window with fewer bad events than this is not burning: at night one 5XX among a
# handful of requests is a 20% share of errors, not an incident worth a page.
MIN_BAD_EVENTS = 5


@dataclass(frozen=True)
class Indicator:
    """A service level indicator as metric math over one window: `share` is the share of
    bad events (0..1), `bad` their number, both over `metrics(period)`."""
    key: str                    # availability, auth-oauth-signin-post-latency
    title: str
    objective: Objective
    metrics: Callable[[int], dict[str, Metric]]
    share: str
    bad: str
    function: Optional[str]     # the function behind it (a route's); None: the whole API
    queries: tuple[str, ...]
    procedures: tuple[str, ...]


def indicators(catalog: tuple[Function, ...], names: StackNames) -> list[Indicator]:
    """The API's availability, and the latency of every route with a target.

    A route's slow requests are counted with the percentile-rank statistic of API
    Gateway's Latency: PR(:t) is the percentage of data points at or below t, so
    100 - PR(:t) is the percentage over the target, and SampleCount the requests
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Statistics-definitions.html).
    FILL gives a window without requests no bad events."""
    api = {"ApiName": names.api, "Stage": names.stage}
    found = [Indicator(
        "availability", "API availability (requests answered without a 5XX)", AVAILABILITY,
        lambda period: {"errors": Metric("AWS/ApiGateway", "5XXError", api, "Sum", period),
                        "requests": Metric("AWS/ApiGateway", "Count", api, "Sum", period)},
        share="FILL(errors, 0) / MAX([FILL(requests, 0), 1])", bad="FILL(errors, 0)", function=None,
        queries=(ERRORS_BY_REQUEST, USER_REQUESTS), procedures=_rollbacks(catalog))]
    slow = "(100 - FILL(within, 100)) / 100"
    for fn in catalog:
        for route in fn.routes:
            if route.latency_p99_ms is None:
                continue
            dims, target = {**api, "Resource": route.path, "Method": route.method}, route.latency_p99_ms
            found.append(Indicator(
                f"{route_slug(route)}-latency",
                f"{route.method} {route.path} latency (requests answered within {target} ms)",
                route.latency_objective,
                lambda period, dims=dims, target=target: {
                    "within": Metric("AWS/ApiGateway", "Latency", dims, f"PR(:{target})", period),
                    "requests": Metric("AWS/ApiGateway", "Latency", dims, "SampleCount", period)},
                share=slow, bad=f"FILL(requests, 0) * {slow}", function=fn.name, queries=(SLOWEST_REQUESTS,),
                procedures=(f"rollback:{fn.name}",)))
    return found


def _rollbacks(catalog: tuple[Function, ...]) -> tuple[str, ...]:
    """Rolling back one of the functions behind the API: whichever a release broke."""
    return tuple(f"rollback:{fn.name}" for fn in catalog if fn.routes or fn.is_authorizer)


def window_label(seconds: int) -> str:
    return f"{seconds // HOUR}h" if seconds % HOUR == 0 else f"{seconds // MINUTE}m"


def _duration(seconds: int) -> str:
    return f"{seconds // HOUR} h" if seconds % HOUR == 0 else f"{seconds // MINUTE} min"


def burn_rate_alarms(indicator: Indicator, rate: BurnRate) -> tuple[list[AlarmSpec], CompositeSpec]:
    """The two window alarms of one burn rate of one objective, and their AND composite."""
    objective, factor, threshold = indicator.objective, rate.factor(indicator.objective), \
        rate.threshold(indicator.objective)
    if threshold >= 1:
        raise ValueError(f"{indicator.title}: an objective of {objective.target:.2%} is too low for burn-rate "
                         f"alerting: {factor:g} times its budget is {threshold:.0%} of all events")
    signal = f"{indicator.key}-{rate.name}"
    left = objective.window_days * 24 / factor  # hours until the budget is gone at this rate
    when = f"{left:g} hours" if left < 72 else f"{left / 24:g} days"
    impact = (f"At this rate the whole {objective.window_days}-day error budget ({objective.budget:.2%} of "
              + ("requests" if indicator.function is None else "this route's requests") + f") is gone in {when}"
              + (": users see it now." if rate.severity == CRITICAL else " if it goes on."))
    if indicator.function is None:
        checks = ("Operations dashboard: API 5XX and which function's errors rose with them",
                  f"Saved query {ERRORS_BY_REQUEST}: the failing requests, their functions and error codes",
                  "Roll back the release that started it (Procedures), then watch the short window fall back")
    else:
        checks = (f"Operations dashboard: duration, cold starts and throttles of {indicator.function}",
                  f"Saved query {SLOWEST_REQUESTS}: the slow requests, gateway or integration latency",
                  "Dependencies' latency (DynamoDB, KMS, S3); roll back if a release started it")
    windows = []
    for period in (rate.long_s, rate.short_s):
        label = window_label(period)
        windows.append(AlarmSpec(
            "api", f"{signal}-{label}",
            f"{indicator.title}: over {threshold:.2%} bad in the last {_duration(period)} ({factor:g}x the budget)",
            Expression(f"IF({indicator.bad} >= {MIN_BAD_EVENTS}, {indicator.share}, 0)", indicator.metrics(period),
                       f"bad share over {label}"),
            threshold, f"One window of api-{signal}, which alerts when both windows breach: alone it notifies nobody.",
            checks, severity=rate.severity, part_of=f"api-{signal}", queries=indicator.queries))
    composite = CompositeSpec(
        "api", signal,
        f"{indicator.title} spends its {objective.window_days}-day error budget {factor:g}x too fast "
        f"(over {threshold:.2%} bad in both the last {_duration(rate.long_s)} and {_duration(rate.short_s)})",
        tuple(w.key for w in windows), "AND", impact, checks, severity=rate.severity, queries=indicator.queries,
        procedures=indicator.procedures)
    return windows, composite


def objective_alarms(catalog: tuple[Function, ...], names: StackNames
                     ) -> tuple[list[AlarmSpec], list[CompositeSpec]]:
    """Every objective's burn-rate windows (metric alarms) and composites, fast then slow."""
    if not any(fn.routes for fn in catalog):
        return [], []
    windows: list[AlarmSpec] = []
    composites: list[CompositeSpec] = []
    for indicator in indicators(catalog, names):
        for rate in BURN_RATES:
            w, c = burn_rate_alarms(indicator, rate)
            windows += w
            composites.append(c)
    return windows, composites


# -- the whole stack -------------------------------------------------------------------

def all_alarms(catalog: tuple[Function, ...], settings: Settings, names: StackNames,
               detailed: bool) -> list[AlarmSpec]:
    """Every metric alarm of the stack (the burn-rate windows included)."""
    specs: list[AlarmSpec] = []
    for fn in catalog:
        specs += function_alarms(fn, settings, names) + custom_alarms(fn, settings)
    if any(fn.routes for fn in catalog) or any(fn.name == AUTHORIZER for fn in catalog):
        specs += api_alarms(catalog, settings, names)
    specs += objective_alarms(catalog, names)[0]
    specs += table_alarms(settings, names)
    if any(fn.access.bedrock for fn in catalog):
        specs += bedrock_alarms(settings)
    specs += platform_alarms(settings, names)
    return [s for s in specs if detailed or not s.detailed]


def composite_alarms(catalog: tuple[Function, ...], settings: Settings, names: StackNames,
                     detailed: bool) -> list[CompositeSpec]:
    """The burn-rate composites, then the paging alarm: any critical alarm of the stack's
    region that is no composite's input, or any critical composite. Each composite only
    names alarms listed before it (metric alarms, then the composites in this order)."""
    burns = objective_alarms(catalog, names)[1]
    paging = [s.key for s in all_alarms(catalog, settings, names, detailed)
              if s.severity == CRITICAL and s.region is None and s.part_of is None]
    paging += [c.key for c in burns if c.severity == CRITICAL]
    service, signal = COMPOSITE.split("-", 1)
    return burns + [CompositeSpec(
        service, signal, f"Serenya {settings.env} is degraded: a critical alarm fired", tuple(paging), "OR",
        "On-call is paged: users are affected now.",
        ("Operations dashboard: the alarm widget shows which critical alarms are in ALARM",
         "Follow that alarm's runbook section",
         "Several at once usually share one cause: start with DynamoDB, KMS and Bedrock"),
        severity=CRITICAL, pages=True)]


def runbook_anchor(spec: AlarmSpec | CompositeSpec) -> str:
    return spec.key


def description(spec: AlarmSpec | CompositeSpec, settings: Settings, dashboard_url: str, runbook_url: str) -> str:
    """What fired, the impact, the first three checks, the runbook and the dashboard."""
    checks = " ".join(f"{i}) {c}" for i, c in enumerate(spec.checks, 1))
    tag = "PAGE" if getattr(spec, "pages", False) else spec.severity.upper()
    text = (f"[{tag}] {spec.title} ({settings.env}). Impact: {spec.impact} "
            f"First checks: {checks} Runbook: {runbook_url}#{runbook_anchor(spec)} Dashboard: {dashboard_url}")
    if len(text) > DESCRIPTION_LIMIT:  # trim the checks, never the links
        room = DESCRIPTION_LIMIT - (len(text) - len(checks)) - 1
        text = text.replace(checks, checks[:room] + "…")
    return text
