"""What the alarms say to a human, as data: each alarm's title, impact and first three
checks. They go into the alarm's description (what the notification shows) and its
docs/runbooks.md section; the custom metrics' own words live with them in
functions/catalog.py (`Threshold.impact`, `.checks`).

`{name}` placeholders are filled by the builders (components/alarm_builders.py,
components/slo.py) with the stack's names and numbers, through `str.format`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prose:
    title: str
    impact: str
    checks: tuple[str, str, str]

    def format(self, **values: object) -> Prose:
        return Prose(self.title.format(**values), self.impact.format(**values), format_checks(self.checks, **values))


def format_checks(checks: tuple[str, str, str], **values: object) -> tuple[str, str, str]:
    """The three checks with `values` filled in, still three (a comprehension's tuple has no length)."""
    first, second, third = checks
    return first.format(**values), second.format(**values), third.format(**values)


# -- every function (components/alarm_builders.function_alarms) ------------------------
# Who notices its errors, by what the function serves.
USER_FACING = {
    "authorizer": "API callers get 500 (AUTHORIZER_FAILURE) on authorized routes",
    "routes": "API callers get errors",
    "events": "jobs or events are delayed or retried",
}
EXCLUDING = " (not counting {expected}, expected answers it gives by raising)"
# Where a throttled function's concurrency comes from, and what to do about it.
THROTTLE_POOL = {
    "reserved": "its reserved {reserved}",
    "shared": "the account's unreserved pool (serenya:accountConcurrency {account_concurrency})",
}
THROTTLE_REMEDY = {
    "reserved": "Raise serenya:reservedConcurrency if the load is real",
    "shared": "Other functions of the account (dev and prod share it) using the pool? Ask AWS for a "
    "higher concurrency quota if the load is real",
}
FAILED_WORK = {"stream": "failed stream batches", "async": "failed asynchronous events"}

FUNCTION = {
    "errors": Prose(
        "{fn} fails more than 10 times in 5 minutes{excluding}",
        "{user_facing}. The function: {description}.",
        (
            "Logs of {log_group}: level ERROR, the exception type",
            "Did a deployment just happen? Compare with the previous version",
            "Are its dependencies healthy (DynamoDB, S3, KMS, Bedrock on the operations dashboard)?",
        ),
    ),
    "error-rate": Prose(
        "more than 5% of {fn} invocations fail{excluding}",
        "A share of requests fail for users: {user_facing}.",
        (
            "Operations dashboard: is it one function or all of them?",
            "Logs of {log_group}: the most frequent exception",
            "Roll back the last deployment if the rate started with it",
        ),
    ),
    "throttles": Prose(
        "{fn} is throttled",
        "Requests are refused (429 at the API) or delayed: concurrency is exhausted.",
        (
            "ConcurrentExecutions of {physical} against {pool}",
            "Is traffic legitimate (API count, WAF dashboard) or a client retry storm?",
            "{remedy}",
        ),
    ),
    "duration-p99": Prose(
        "{fn} p99 duration above 80% of its {timeout_s}s timeout",
        "Slow answers now, timeouts soon: invocations close to the timeout fail.",
        (
            "Operations dashboard: which dependency got slower (DynamoDB, S3, Bedrock latency)?",
            "X-Ray traces of the slowest invocations",
            "Cold starts: did memory or package size change in the last deployment?",
        ),
    ),
    "concurrency": Prose(
        "{fn} uses over 80% of its reserved concurrency",
        "Throttling is near: new requests will soon be refused.",
        (
            "API request count and sources: real growth or a retry storm?",
            "Duration of {fn}: slower invocations hold concurrency longer",
            "Raise serenya:reservedConcurrency if the load is real",
        ),
    ),
    "iterator-age": Prose(
        "{fn} is more than a minute behind the table stream",
        "Audit events arrive late; past the maximum record age they go to the failure queue.",
        (
            "Errors and throttles of {fn}",
            "Batch duration: are writes to the events bucket slow?",
            "The failure queue: are batches being dropped?",
        ),
    ),
    "failed-events": Prose(
        "{what} of {fn} are waiting in {queue}",
        "Some work was given up after retries (a job stuck, events not written) and needs replaying.",
        (
            "Read a message of {queue}: the condition and the error",
            "Logs of {fn} around the message's time",
            "Fix the cause, then redrive the messages to the function",
        ),
    ),
}
# A custom metric's alarm: its impact and checks are the catalog's.
CUSTOM_TITLE = "{title} above {value:g} in {minutes} minutes"

# -- the API (components/alarm_builders.api_alarms) --------------------------------------
API = {
    "5xx": Prose(
        "the API answered more than 10 server errors in 5 minutes",
        "App users see failures across features.",
        (
            "Operations dashboard: which function's errors rose at the same time?",
            "API access logs: errorType and integrationStatus of the 5XX answers",
            "Authorizer errors: AUTHORIZER_FAILURE answers mean the authorizer itself fails",
        ),
    ),
    "5xx-rate": Prose(
        "over 1% of API requests fail with 5XX",
        "A share of app requests fail.",
        (
            "Same checks as the 5xx alarm",
            "Is it one route? The route of the errors in the errors-by-request query",
            "Roll back the last deployment if it started with it",
        ),
    ),
    "4xx-rate": Prose(
        "over 15% of API requests are refused with 4XX",
        "Users are refused: an app release sending bad requests, expired sessions, or probing.",
        (
            "API access logs: status and resourcePath of the 4XX answers",
            "Security dashboard: authorizer rejections and WAF blocks",
            "Did an app release change a request shape (422 validation_error)?",
        ),
    ),
    "latency-p99": Prose(
        "API p99 latency above 2 seconds",
        "The app feels slow everywhere.",
        (
            "IntegrationLatency vs Latency: the functions or the gateway?",
            "Function durations and cold starts on the operations dashboard",
            "DynamoDB and KMS latency",
        ),
    ),
    "route-p99": Prose(
        "{method} {path} p99 above its {target} ms target",
        "{method} {path} is slower than promised.",
        (
            "Duration and cold starts of {fn} (provisioned concurrency in prod?)",
            "X-Ray traces of slow requests of this route",
            "Latency of what it calls (DynamoDB, S3, KMS)",
        ),
    ),
}

# -- DynamoDB, Bedrock, KMS, S3, WAF -------------------------------------------------------
TABLE = {
    "throttles": Prose(
        "DynamoDB throttles reads or writes of the table",
        "Sign-ins, profiles and subscriptions fail or slow down.",
        (
            "Which operation and key: CloudWatch Contributor Insights or the functions' logs",
            "A hot partition (one user hammered) or a burst beyond on-demand's doubling?",
            "Function retries: are clients retrying in a storm?",
        ),
    ),
    "system-errors": Prose(
        "DynamoDB returns internal errors",
        "Account requests fail intermittently.",
        (
            "AWS Health Dashboard for DynamoDB in the region",
            "Functions' error logs: which operations fail",
            "The SDK retries these: do the functions' errors rise too?",
        ),
    ),
    "user-errors": Prose(
        "DynamoDB rejects requests as invalid (account-wide)",
        "A code path sends invalid requests: some feature fails for users.",
        (
            "Functions' logs: ValidationException and the operation",
            "Did a deployment change an item shape or an expression?",
            "Other applications in the account also count here",
        ),
    ),
}
BEDROCK = {
    "errors": Prose(
        "Bedrock invocations fail (every stack of the account using the model)",
        "Lab analyses, chat answers and doctor reports fail.",
        (
            "AWS Health for Bedrock in the region",
            "Model access: is the model still enabled for the account?",
            "process logs: error codes of the refused calls; ModelFailures shows whether this stack is affected",
        ),
    ),
    "throttles": Prose(
        "Bedrock throttles our invocations",
        "Jobs take longer (retries) and may fail as model_unavailable.",
        (
            "Tokens per minute on the operations dashboard against the account's quota",
            "Service Quotas: request a higher on-demand quota for the model",
            "Is one user flooding chat? Jobs by kind",
        ),
    ),
    "latency": Prose(
        "Bedrock p99 latency above 60 seconds",
        "Results arrive slowly; near the process timeout jobs fail.",
        (
            "Output tokens per job: did prompts or documents grow?",
            "AWS Health for Bedrock",
            "Consider a faster model profile in serenya:bedrockModelId",
        ),
    ),
}
KMS_QUOTA = Prose(
    "KMS {title} requests above 80% of the account's quota",
    "KMS will start throttling: sign-ins, profiles and uploads fail.",
    (
        "Which function calls {operations} most (security dashboard: KMS calls per minute)?",
        "Other applications and stacks sharing the account's KMS quota in the region",
        "Service Quotas: request an increase of KMS '{title} request rate'",
    ),
)
TEMP_BUCKET_OBJECTS = Prose(
    "the temp bucket holds over 100,000 job files",
    "Job files are not expiring: health data stays longer than the promised 2 days.",
    (
        "The bucket's lifecycle rules (incoming/, outgoing/ expire after 2 days)",
        "Is something writing outside incoming/ and outgoing/?",
        "Upload volume on the executive dashboard: real growth?",
    ),
)
WAF_WHERE = {"REGIONAL": "the stage's own web ACL (the execute-api endpoint)", "CLOUDFRONT": "CloudFront's web ACL"}
WAF_BLOCKED = Prose(
    "{where} blocks over 1,000 requests in 5 minutes",
    "An attack or a misbehaving client; legitimate users may be blocked by the rate rule.",
    (
        "Security dashboard: which rule of {acl} blocks (rate-per-ip, common, known bad inputs)",
        "WAF sampled requests: source IPs and paths",
        "If users are blocked by SizeRestrictions or the rate rule, tune it in components/waf.py",
    ),
)

# -- objectives (components/slo.py) --------------------------------------------------------
AVAILABILITY_TITLE = "API availability (requests answered without a 5XX)"
LATENCY_TITLE = "{method} {path} latency (requests answered within {target} ms)"
BURN_IMPACT = "At this rate the whole {window_days}-day error budget ({budget:.2%} of {counted}) is gone in {when}"
BURN_COUNTED = {"api": "requests", "route": "this route's requests"}
BURN_URGENCY = {"critical": ": users see it now.", "warning": " if it goes on."}
BURN_CHECKS = {
    "api": (
        "Operations dashboard: API 5XX and which function's errors rose with them",
        "Saved query {errors_query}: the failing requests, their functions and error codes",
        "Roll back the release that started it (Procedures), then watch the short window fall back",
    ),
    "route": (
        "Operations dashboard: duration, cold starts and throttles of {fn}",
        "Saved query {slow_query}: the slow requests, gateway or integration latency",
        "Dependencies' latency (DynamoDB, KMS, S3); roll back if a release started it",
    ),
}
BURN_WINDOW_TITLE = "{indicator}: over {threshold:.2%} bad in the last {duration} ({factor:g}x the budget)"
BURN_WINDOW_IMPACT = "One window of api-{signal}, which alerts when both windows breach: alone it notifies nobody."
BURN_TITLE = (
    "{indicator} spends its {window_days}-day error budget {factor:g}x too fast "
    "(over {threshold:.2%} bad in both the last {long} and {short})"
)

# -- the paging composite (components/alarms.composite_alarms) ----------------------------
PAGING = Prose(
    "Serenya {env} is degraded: a critical alarm fired",
    "On-call is paged: users are affected now.",
    (
        "Operations dashboard: the alarm widget shows which critical alarms are in ALARM",
        "Follow that alarm's runbook section",
        "Several at once usually share one cause: start with DynamoDB, KMS and Bedrock",
    ),
)
