"""What the alarms say to a human, as data: each alarm's title, impact and first three
checks. They go into the alarm's description (what the notification shows) and its
docs/runbooks.md section; the custom metrics' own words live with them in
functions/catalog.py (`Threshold.impact`, `.checks`). Every critical alarm also has a
`Playbook`: what its runbook section walks on-call through, in order (what the user sees,
the first five minutes, the likely causes with their mitigations, what to tell users, how
to confirm recovery). Widgets are named by their exact titles and procedures by their
keys (components/procedures.py), as data a test checks against the dashboards built.

`{name}` placeholders are filled by the builders (components/alarm_builders.py,
components/slo.py) with the stack's names and numbers, through `str.format`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Widget:
    """A dashboard widget by its exact title (components/dashboards.py), and what to read on it."""

    title: str
    read: str
    dashboard: str = "operations"  # executive, operations or security

    def format(self, **values: object) -> Widget:
        return Widget(self.title.format(**values), self.read.format(**values), self.dashboard)


# The process function's custom metrics widget (components/dashboards.py titles it by its metrics).
MODEL_WIDGET = (
    "{fn}: Jobs finished, Jobs failed by the model, Model replies failing validation, Model calls retried, "
    "Input tokens, Output tokens, Inputs the model cannot take, Canary jobs finished"
)


@dataclass(frozen=True)
class Cause:
    """One likely cause: how to recognise it and what to do about it. `procedures` are keys of
    components/procedures.py, spelled out under the cause; `own_procedures` adds the alarm's
    own (its rollbacks or redrive)."""

    name: str
    signs: str
    mitigation: str
    procedures: tuple[str, ...] = ()
    own_procedures: bool = False

    def format(self, **values: object) -> Cause:
        return dataclasses.replace(
            self,
            name=self.name.format(**values),
            signs=self.signs.format(**values),
            mitigation=self.mitigation.format(**values),
            procedures=tuple(p.format(**values) for p in self.procedures),
        )


@dataclass(frozen=True)
class Playbook:
    """A critical alarm's runbook, in the order on-call needs it at 3 a.m. The first five
    minutes are `widgets`, the alarm's saved queries (`AlarmSpec.queries`) and `command` (a
    procedure's key); recovery is read on `recovery_widget`, and the alarm returns to OK."""

    user_sees: str
    widgets: tuple[Widget, ...]
    command: str
    causes: tuple[Cause, ...]
    tell_users: str
    recovery: str
    recovery_widget: Widget

    def format(self, **values: object) -> Playbook:
        return Playbook(
            self.user_sees.format(**values),
            tuple(w.format(**values) for w in self.widgets),
            self.command.format(**values),
            tuple(c.format(**values) for c in self.causes),
            self.tell_users.format(**values),
            self.recovery.format(**values),
            self.recovery_widget.format(**values),
        )


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
CUSTOM_TITLE_PERIODS = "{title} above {value:g} in each of {periods} consecutive {minutes}-minute periods"
CUSTOM_TITLE_OF_PERIODS = "{title} above {value:g} in {datapoints} of {periods} consecutive {minutes}-minute periods"

# -- the API (components/alarm_builders.api_alarms) --------------------------------------
API = {
    "5xx": Prose(
        "the API answered more than 10 server errors in 5 minutes",
        "App users see failures across features.",
        (
            "Operations dashboard, the '<function>: Unhandled errors' widgets: which function answered 500s "
            "(the resolver turns exceptions into 500s, so Lambda Errors stay 0)",
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
            "Operations dashboard, 'DynamoDB throttles and errors': SystemErrors by operation",
            "AWS Health Dashboard for DynamoDB in the region; functions' error logs: which operations fail",
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

# -- playbooks of the critical alarms ------------------------------------------------------
# Causes several playbooks share. Procedures named here are components/procedures.py's.
BAD_DEPLOY = Cause(
    "A bad deploy",
    "It started with a release (the alarm's first datapoint follows a `pulumi up`); the errors share one "
    "exception type or error code.",
    "Roll back, then fix forward in git.",
    own_procedures=True,
)
KMS_KEY = Cause(
    "The stack's key disabled or scheduled for deletion",
    "Errors name KMS (KMSAccessDeniedException, DisabledException, KMSInvalidStateException) on every request "
    "that reads the table or the temp bucket.",
    "Re-enable the key or cancel its deletion (the check's text says how); nothing else needs changing.",
    procedures=("check-table",),
)
DYNAMODB_DOWN = Cause(
    "DynamoDB failing or throttling",
    "The table alarms (table-system-errors, table-throttles) fired first; errors name "
    "InternalServerError, ProvisionedThroughputExceededException or ThrottlingException.",
    "Follow [table-system-errors](#table-system-errors) or [table-throttles](#table-throttles); nothing in this "
    "function to change.",
    procedures=("check-table",),
)
BEDROCK_DOWN = Cause(
    "Bedrock throttling or an outage",
    "ModelFailures with reason `unavailable` (retries ran out); Bedrock InvocationThrottles or "
    "InvocationServerErrors rise; model calls retried by reason ThrottlingException, ServiceUnavailableException "
    "or ModelNotReadyException; AWS Health (Bedrock, the stack's region) may show an event.",
    "Move the analyses to another model's inference profile of the geography (its own quota and capacity), or, "
    "if every profile fails, pause new jobs so users get a clear 503 `jobs_paused` with Retry-After instead of "
    "a failed job after minutes of retries. Undo either once model calls succeed again.",
    procedures=("switch-model", "pause-jobs"),
)
STATUS_TRY_LATER = (
    "We're having trouble with {what} right now. Your data is safe; please try again in a little while. "
    "We'll post an update here when it's fixed."
)

FUNCTION_PLAYBOOKS = {
    "routes": Playbook(
        "Requests answered by {fn} ({description}) fail with 502 or 504 from the gateway: the function crashes, "
        "times out or runs out of memory before it can answer. (An exception it catches is a 500 `internal_error` "
        "counted in Unhandled errors, not here.)",
        (
            Widget(
                "Errors by function (Lambda errors, unhandled errors answered as 500, throttles)",
                "the {fn} series: Errors against Invocations: every call, or a share?",
            ),
            Widget(
                "Duration p99 by function (ms)",
                "the {fn} series against its {timeout_s}s timeout: at the timeout: a dependency hangs",
            ),
            Widget(
                "Errors by function (Lambda errors, unhandled errors answered as 500, throttles)",
                "the {fn} unhandled-errors series: exceptions answered as 500 at the same time: the same fault",
            ),
        ),
        "errors:{fn}",
        (
            BAD_DEPLOY,
            Cause(
                "A dependency hangs",
                "Duration p99 sits at the {timeout_s}s timeout; the log shows Task timed out.",
                "Find which dependency (DynamoDB, KMS, S3 latency on the dashboards); an AWS incident: tell users "
                "and wait, the function recovers by itself.",
            ),
            KMS_KEY,
            DYNAMODB_DOWN,
        ),
        STATUS_TRY_LATER.format(what="part of the app"),
        "Errors back to 0 while Invocations go on",
        Widget(
            "Errors by function (Lambda errors, unhandled errors answered as 500, throttles)",
            "the {fn} series: Errors at 0 for two periods",
        ),
    ),
    "authorizer": Playbook(
        "Every signed-in request fails with 500 (AUTHORIZER_FAILURE): the app cannot load anything behind sign-in, "
        "users may look signed out. Sign-in itself and the store webhooks still work.",
        (
            Widget(
                "Errors by function (Lambda errors, unhandled errors answered as 500, throttles)",
                "the {fn} series: Errors against Invocations, not counting rejections",
            ),
            Widget(
                "Duration p99 by function (ms)",
                "the {fn} series against its {timeout_s}s timeout: at the timeout: the table or KMS hangs",
            ),
            Widget("API requests and errors", "5XXError following the authorizer's errors"),
        ),
        "errors:{fn}",
        (BAD_DEPLOY, KMS_KEY, DYNAMODB_DOWN),
        STATUS_TRY_LATER.format(what="signing in to the app"),
        "Errors back to 0 and the API's 5XXError with them",
        Widget(
            "Errors by function (Lambda errors, unhandled errors answered as 500, throttles)",
            "the {fn} series: Errors at 0 for two periods",
        ),
    ),
    "events": Playbook(
        "{fn} ({description}) fails in the background: {user_facing}. Lambda retries it; what still fails goes to "
        "its failure queue.",
        (
            Widget(
                "Errors by function (Lambda errors, unhandled errors answered as 500, throttles)",
                "the {fn} series: Errors against Invocations: every event, or a share?",
            ),
            Widget(
                "Duration p99 by function (ms)",
                "the {fn} series against its {timeout_s}s timeout: at the timeout: a dependency hangs",
            ),
        ),
        "errors:{fn}",
        (
            BAD_DEPLOY,
            Cause(
                "A dependency hangs or refuses",
                "Duration p99 at the {timeout_s}s timeout, or errors naming S3, KMS or DynamoDB.",
                "An AWS incident: wait and replay the failure queue once it ends; our key: re-enable it.",
                procedures=("check-table",),
            ),
            DYNAMODB_DOWN,
        ),
        STATUS_TRY_LATER.format(what="processing some requests"),
        "Errors back to 0, then replay what reached the failure queue (its failed-events section)",
        Widget(
            "Errors by function (Lambda errors, unhandled errors answered as 500, throttles)",
            "the {fn} series: Errors at 0 for two periods",
        ),
    ),
}

# By custom metric name: the critical thresholds of the catalog (functions/catalog.py).
METRIC_PLAYBOOKS = {
    "ModelFailures": Playbook(
        'Lab report analyses, chat answers and doctor reports end as failed with `model_unavailable` ("the '
        'analysis service was unavailable; try again"), after up to minutes of waiting. Everything else works.',
        (
            Widget(
                MODEL_WIDGET,
                "Jobs failed by the model: the reason: unavailable, access_denied, model_not_found, request_invalid",
            ),
            Widget("Bedrock invocations, errors, throttles, latency", "InvocationThrottles or InvocationServerErrors"),
            Widget(
                MODEL_WIDGET,
                "Model calls retried: retries by reason (ThrottlingException, ServiceUnavailableException)",
            ),
        ),
        "errors:{fn}",
        (
            BEDROCK_DOWN,
            Cause(
                "Model access lost (`access_denied`)",
                "Every call is refused at once with AccessDeniedException.",
                "Run preflight with an administrator's credentials: it names what the account lacks. Anthropic "
                "needs its one-time use case form (Bedrock console > Model catalog > the model) and the Marketplace "
                "subscription made by an administrator (open the model in the playground once); the process role "
                "has no aws-marketplace permissions on purpose. Access arrives within 15 minutes. Meanwhile pause "
                "new jobs.",
                procedures=("pause-jobs",),
            ),
            Cause(
                "The model retired or the id wrong (`model_not_found`, `request_invalid`)",
                "ResourceNotFoundException or ValidationException on every call; often after a change of "
                "serenya:bedrockModelId.",
                "Point serenya:bedrockModelId at an active inference profile (preflight checks it) and deploy.",
                procedures=("switch-model",),
            ),
            Cause(
                "A bad deploy",
                "`request_invalid` on every job since a release that changed a prompt, a tool schema or the request.",
                "Roll the process function back.",
                procedures=("rollback:{fn}",),
            ),
        ),
        STATUS_TRY_LATER.format(what="analysing documents and answering chat"),
        "Jobs failed by the model back to 0 and Jobs finished counting completed jobs again; undo a pause or a "
        "model switch once the model answers",
        Widget(MODEL_WIDGET, "Jobs failed by the model: no datapoints, or 0, for two periods"),
    ),
    "CanaryFailures": Playbook(
        "Possibly nothing yet: the synthetic user failed the critical journey (sign-in token, upload, S3 POST, "
        "processing, result) before a user reported it; at night no user may be trying. The next user to upload "
        "a lab report meets the same failure.",
        (
            Widget(
                "{fn}: Canary journeys succeeded (1) or failed (0), Canary journeys failed",
                "the failed step: endpoint, upload, s3_post, status, process or result",
            ),
            Widget("Critical alarms in ALARM", "another critical alarm in ALARM names the cause"),
            Widget(MODEL_WIDGET.format(fn="process"), "Jobs failed by the model: a step `process` is the model"),
        ),
        "errors:{fn}",
        (
            Cause(
                "The model (step `process`)",
                "The canary's job failed; ModelFailures rises with `unavailable`, `access_denied` or "
                "`model_not_found`, which no user traffic shows at night.",
                "Follow [process-model-failures](#process-model-failures): switch the model or pause new jobs.",
                procedures=("switch-model", "pause-jobs"),
            ),
            Cause(
                "The API or its dependencies (step `endpoint` or `upload` with a 5xx)",
                "api-5xx, an authorizer or a table alarm in ALARM as well, once real traffic arrives.",
                "Follow that alarm's section: [api-5xx](#api-5xx), [table-system-errors](#table-system-errors).",
                procedures=("check-table",),
            ),
            BAD_DEPLOY,
        ),
        STATUS_TRY_LATER.format(what="uploading and analysing lab reports"),
        "Canary journeys succeeded back at 1 for two runs in a row",
        Widget("{fn}: Canary journeys succeeded (1) or failed (0), Canary journeys failed", "succeeded at 1"),
    ),
}

API_5XX_PLAYBOOK = Playbook(
    'Requests fail across the app with 500 `internal_error` ("something went wrong on our side") or 502/504.',
    (
        Widget("API requests and errors", "5XXError against Count: how large a share fails"),
        Widget(
            "Errors by function (Lambda errors, unhandled errors answered as 500, throttles)",
            "the unhandled-errors series, one per function: the resolver answers an exception as a 500, so "
            "Lambda's Errors stay 0; the function whose unhandled errors rose is the one failing",
        ),
    ),
    "unhandled-errors",
    (
        BAD_DEPLOY,
        KMS_KEY,
        DYNAMODB_DOWN,
        Cause(
            "The authorizer failing",
            "5XX on every authorized route but none on sign-in; the access log's errorType is AUTHORIZER_FAILURE.",
            "Follow [authorizer-errors](#authorizer-errors).",
        ),
    ),
    STATUS_TRY_LATER.format(what="the app"),
    "5XXError back under 10 per 5 minutes and every Unhandled errors widget flat",
    Widget("API requests and errors", "5XXError near 0"),
)

TABLE_PLAYBOOKS = {
    "system-errors": Playbook(
        "Sign-in, profiles, uploads and subscriptions fail intermittently with 500 `internal_error` once the SDK's "
        "retries run out.",
        (
            Widget("DynamoDB system errors, throttles and latency", "SystemErrors: one operation or all of them?"),
            Widget("API requests and errors", "how many requests the errors reach"),
        ),
        "check-table",
        (
            Cause(
                "A DynamoDB incident in the region",
                "SystemErrors on every operation; AWS Health (DynamoDB, the stack's region) shows an event; no "
                "release just happened.",
                "Nothing in the stack to change: the SDK retries and the functions recover with DynamoDB. Tell "
                "users and follow AWS Health; replay what reached the failure queues once it ends.",
            ),
            Cause(
                "One operation failing",
                "SystemErrors on one operation only (e.g. TransactWriteItems) since a release that changed it.",
                "Roll back the function that issues it (the saved query names it): its rollback is under "
                "[procedures](#procedures).",
            ),
        ),
        STATUS_TRY_LATER.format(what="parts of the app"),
        "SystemErrors back to 0 for 10 minutes; the functions' errors fall with them",
        Widget("DynamoDB system errors, throttles and latency", "SystemErrors at 0"),
    ),
    "throttles": Playbook(
        "Sign-ins, profiles and subscriptions are slow, then fail with 500 `internal_error` when retries run out.",
        (
            Widget("DynamoDB system errors, throttles and latency", "read or write throttles, and since when"),
            Widget("API requests and errors", "a jump in Count: real growth or a retry storm"),
        ),
        "check-table",
        (
            Cause(
                "A burst beyond on-demand's headroom",
                "Traffic doubled within minutes (API Count); throttles on reads and writes alike.",
                "On-demand adapts within minutes; if it recurs, raise the table's warm throughput "
                "(`aws dynamodb update-table --warm-throughput`).",
            ),
            Cause(
                "One hot key or a retry storm",
                "Throttles with normal traffic; one user or one route dominates the saved query.",
                "Security dashboard: quotas and WAF rate rule; block the client (WAF) if abusive.",
            ),
            Cause(
                "A bad deploy",
                "Started with a release: a new loop or scan.",
                "Roll back the function the saved query names: its rollback is under [procedures](#procedures).",
            ),
        ),
        STATUS_TRY_LATER.format(what="parts of the app"),
        "Throttle events back to 0",
        Widget("DynamoDB system errors, throttles and latency", "ReadThrottleEvents and WriteThrottleEvents at 0"),
    ),
}

FAILED_STREAM_PLAYBOOK = Playbook(
    "Nothing in the app: audit events of the failed batches are missing from the analytics lake, and are lost "
    "once the stream drops them (24 hours).",
    (
        Widget(
            "Errors by function (Lambda errors, unhandled errors answered as 500, throttles)",
            "the {fn} series: errors since when",
        ),
        Widget("{fn}: stream iterator age and failed events", "still behind, or caught up past the failed batches"),
    ),
    "errors:{fn}",
    (
        Cause(
            "Writes to the events bucket failing",
            "Errors name S3 or KMS (AccessDenied, SlowDown).",
            "Fix the access (the check names the key state), then replay the failed batches within 24 hours.",
            procedures=("check-table",),
            own_procedures=True,
        ),
        Cause(
            "A bad deploy",
            "The same exception on every batch since a release.",
            "Roll back, then replay the batches within 24 hours.",
            procedures=("rollback:{fn}",),
            own_procedures=True,
        ),
    ),
    "Nothing to tell users: the app is unaffected.",
    "Errors back to 0 and the failure queue empty after the replay",
    Widget(
        "Errors by function (Lambda errors, unhandled errors answered as 500, throttles)",
        "the {fn} series: Errors at 0",
    ),
)

BURN_PLAYBOOKS = {
    "api": Playbook(
        "A steady share of requests fail with 5XX across the app: at this rate the month's error budget is gone "
        "in {when}.",
        (
            Widget("API requests and errors", "5XXError against Count"),
            Widget("{budget}", "what is left of the month's budget", "executive"),
        ),
        "unhandled-errors",
        (BAD_DEPLOY, KMS_KEY, DYNAMODB_DOWN),
        STATUS_TRY_LATER.format(what="the app"),
        "The 5-minute window falls under the threshold at once when the cause is fixed, then the composite returns "
        "to OK; the budget tile stops falling",
        Widget("API requests and errors", "5XXError near 0"),
    ),
    "route": Playbook(
        "{indicator} is missed for a large share of requests: the app waits on it (sign-in, upload, polling a "
        "job); at this rate the month's error budget is gone in {when}.",
        (
            Widget(
                "Duration p99 by function (ms)",
                "the {fn} series against its {timeout_s}s timeout: the function itself slower?",
            ),
            Widget("API latency p99 (ms)", "Latency against IntegrationLatency: gateway or function"),
            Widget("{budget}", "what is left of the month's budget", "executive"),
        ),
        "duration:{fn}",
        (
            BAD_DEPLOY,
            Cause(
                "Cold starts",
                "Slow requests after quiet spells; the function's init duration in its logs (REPORT lines).",
                "Where the stack keeps functions warm, check the live alias still has its provisioned "
                "concurrency (serenya:provisionedConcurrency).",
            ),
            Cause(
                "A slower dependency",
                "The function's duration rose with DynamoDB, KMS or S3 latency.",
                "An AWS incident: wait; our table: follow its alarms.",
                procedures=("check-table",),
            ),
        ),
        STATUS_TRY_LATER.format(what="a slow app"),
        "Duration p99 back under the route's target and the 5-minute window under its threshold",
        Widget(
            "Duration p99 by function (ms)",
            "the {fn} series against its {timeout_s}s timeout: p99 under the route's target",
        ),
    ),
}
# The executive dashboard's error budget tile of an objective (components/dashboards.error_budget).
BUDGET_WIDGET_TITLE = "{indicator}: objective {target:.2%}, budget left over {window_days} days"

PAGING_PLAYBOOK = Playbook(
    "Depends on the alarm that fired: one critical alarm in ALARM means users are affected now.",
    (
        Widget(
            "Critical alarms in ALARM", "the critical alarms in ALARM and since when: the first is usually the cause"
        ),
    ),
    "alarms-firing",
    (
        Cause(
            "One alarm",
            "A single critical alarm in ALARM.",
            "Follow that alarm's section: it has its own causes and mitigations.",
        ),
        Cause(
            "A shared dependency",
            "Several functions' alarms at once.",
            "DynamoDB ([table-system-errors](#table-system-errors)), the stack's key, or Bedrock "
            "([process-model-failures](#process-model-failures)).",
            procedures=("check-table",),
        ),
        Cause(
            "A bad deploy",
            "Alarms followed a `pulumi up`.",
            "Roll back the functions the release changed (each alarm's section has its rollback).",
        ),
    ),
    STATUS_TRY_LATER.format(what="the app"),
    "Every input alarm back to OK; the composite follows",
    Widget("Critical alarms in ALARM", "nothing in ALARM"),
)
