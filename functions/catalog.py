"""The function catalog: one entry per Lambda function, the single source of truth.

From these entries the Pulumi program derives each function's IAM role, log group,
environment, triggers and alarms, the API's OpenAPI document, and the local stack's
routing. Adding a function is one entry here and one folder `functions/<name>/`.

This module is imported by the Pulumi program, the local stack and the functions
themselves, so it uses the standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

# The kinds of model-backed work counted per user (standard library only, like this module).
from functions.common.quotas import KINDS as QUOTA_KINDS


class TableAccess(Enum):
    NONE = "none"
    # GetItem of a profile's PK attribute only: whether an account still exists
    # (functions/common/accounts.py). What the authorizer and the job routes need.
    CHECK_ACCOUNT = "check_account"
    READ = "read"
    READ_WRITE = "read_write"


class KeyUse(Enum):
    """What a function may do with a KMS key."""

    ENCRYPT_DECRYPT = "encrypt_decrypt"  # per-user data keys (PII key)
    DECRYPT = "decrypt"
    SIGN = "sign"  # access tokens (signing key)
    VERIFY = "verify"  # public key for the authorizer


@dataclass(frozen=True)
class Objective:
    """A service level objective: at least `target` of the events are good over a rolling
    `window_days`. The rest, 1 - target, is the error budget; components/alarms.py turns
    each objective into multi-window burn-rate alarms (the SRE workbook's fast and slow
    burn) and the executive dashboard shows what is left of the budget."""

    target: float  # 0.999: 99.9% good
    window_days: int = 30

    @property
    def budget(self) -> float:
        return 1 - self.target


# The API's objectives. Availability: requests answered without a 5XX, the whole API.
# Latency: a route's requests answered within its `latency_p99_ms`, for each route with one.
AVAILABILITY = Objective(0.999)
LATENCY = Objective(0.99)


@dataclass(frozen=True)
class Route:
    method: str  # GET, POST, PUT, DELETE
    path: str  # /api/v1/process/status/{job_id}
    authorized: bool = True  # behind the JWT authorizer
    body: str | None = None  # request model, "module:Class" (pydantic), for the OpenAPI document
    # The model of a successful answer's body, "module:Class" (functions/responses.py);
    # None for 204. The OpenAPI document types every success status with it.
    response: str | None = None
    success: tuple[int, ...] = (200,)  # the statuses of a successful answer
    # A latency target (alarmed on this resource and method at p99), and the objective of
    # the share of requests answered within it.
    latency_p99_ms: int | None = None
    latency_objective: Objective = LATENCY
    # The (status, error code) pairs this route's own code answers, beyond the ones every
    # route, authorized route or route with a body answers (components/openapi.py adds
    # those). tests/components/test_error_codes.py fails when the code raises one unlisted.
    errors: tuple[tuple[int, str], ...] = ()


# The answer of the functions that start model work (those counting a quota) while
# serenya:newJobsPaused is on (common/http.py refuse_if_jobs_paused).
JOBS_PAUSED = (503, "jobs_paused")


@dataclass(frozen=True)
class AsyncRetries:
    """What Lambda does with an asynchronous event whose invocation fails: retry it up to
    `attempts` more times (after 1 then 2 minutes), but never start one once the event is
    `max_age_s` old; then the failure queue. Lambda's defaults (2 retries, 6 hours) would
    outlive a job: https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html"""

    attempts: int = 2
    max_age_s: int = 6 * 3600


@dataclass(frozen=True)
class S3Trigger:
    """ObjectCreated events for keys under `prefix` of the temp bucket."""

    prefix: str
    # A job times out 15 minutes after its upload: one retry, started at most 9 minutes in,
    # ends before that with a 300 s function (a test checks the arithmetic).
    retries: AsyncRetries = AsyncRetries(attempts=1, max_age_s=540)


@dataclass(frozen=True)
class StreamTrigger:
    """The table's DynamoDB stream, delivered in batches."""

    batch_size: int = 100
    batching_window_seconds: int = 5
    maximum_retry_attempts: int = 3
    maximum_record_age_seconds: int = 3600


@dataclass(frozen=True)
class ScheduleTrigger:
    expression: str  # EventBridge: cron(...) or rate(...)
    retries: AsyncRetries = AsyncRetries(attempts=2, max_age_s=3600)
    # The event is {"public_url": <the stack's public URL>} (EventBridge's constant input):
    # the API is created after the functions, so its URL cannot be in their environment.
    public_url: bool = False
    # The stack setting serenya:<rate_key> that overrides `expression` per stack with a
    # rate(...) (components/config.py validates it): how often a stack pays for a run.
    rate_key: str | None = None


Trigger = S3Trigger | StreamTrigger | ScheduleTrigger


@dataclass(frozen=True)
class Threshold:
    """An alarm on a custom metric's totals (dimensions service, function)."""

    value: float
    impact: str
    checks: tuple[str, str, str]
    severity: str = "warning"  # "critical" pages on-call through the stack's composite alarm
    statistic: str = "Sum"
    period_s: int = 300
    periods: int = 1
    # The period is the function's schedule rate in its stack instead of `period_s`, so
    # `periods` counts runs (a scheduled function's own outcome metric).
    per_run: bool = False
    datapoints: int | None = None  # breaching periods out of `periods` that fire it (default: all)


@dataclass(frozen=True)
class CustomMetric:
    """A metric the function's code emits with `observability.count` (a test ties the two)."""

    name: str
    title: str
    breakdown: tuple[str, ...] = ()  # dimensions of the breakdown stream, beside service and function
    unit: str = "Count"
    dashboards: tuple[str, ...] = ()  # executive, operations, security
    alarm: Threshold | None = None
    # Every count is also an invocation error in AWS/Lambda Errors, because the handler
    # answers it by raising (a token authorizer's only way to make API Gateway answer
    # 401). The function's errors alarms subtract it, so such answers never page; its
    # own threshold must be a warning (validate() checks).
    function_error: bool = False


# Every API function reports unexpected errors through the shared resolver (common/http.py).
UNHANDLED_ERRORS = CustomMetric("UnhandledErrors", "Unhandled errors", dashboards=("operations",))
# Requests refused over a per-user quota (common/http.py consume_quota): expected answers,
# but a spike is one account (or a client bug) hammering the model-backed routes.
QUOTA_REFUSALS = CustomMetric(
    "QuotaRefusals",
    "Requests over a user's quota",
    ("kind", "plan"),
    dashboards=("security",),
    alarm=Threshold(
        100,
        "Users hit their quotas of documents, chat messages or doctor reports: one account scripting the "
        "API, or an app release retrying 429s. Refused requests cost nothing and change nothing.",
        (
            "Security dashboard: quota refusals by kind and plan",
            "API access logs: one user (the authorizer's principal) or many? One: a script; many: check "
            "the app's retry handling of 429 and Retry-After",
            "If real users need more: raise serenya:quotas in the stack file and pulumi up",
        ),
        severity="warning",
    ),
)


@dataclass(frozen=True)
class Access:
    """What a function may touch. IAM statements and environment are derived from it."""

    table: TableAccess = TableAccess.NONE
    temp_read: tuple[str, ...] = ()  # temp bucket prefixes it may read, e.g. ("incoming/",)
    temp_write: tuple[str, ...] = ()  # prefixes it may write
    temp_delete: tuple[str, ...] = ()  # prefixes it may delete from
    temp_list: bool = False  # list the temp bucket within its readable prefixes
    events_write: bool = False  # audit Parquet in the events bucket
    events_read: bool = False
    # PutItem of its own usage records only (functions/common/usage.py: items under USAGE#,
    # those attributes), which the stream turns into product-usage audit events.
    usage_records: bool = False
    # Counts the user's model-backed work of this kind (functions/common/quotas.py: one of
    # its KINDS) when it creates a job: reads the profile's plan, updates QUOTA# counters.
    quota: str | None = None
    quota_view: bool = False  # shows the user's quotas (reads QUOTA# counters)
    # The PII key, which only wraps the per-user data keys (email and names): for the
    # functions that show or change them. The storage key (buckets, secret) is granted
    # from the bucket and secret access, through those services only (components/iam.py).
    pii_key: KeyUse | None = None
    email_mac: bool = False  # the HMAC key behind the email lookup hash (GenerateMac)
    signing_key: KeyUse | None = None  # the access-token signing key
    # The canary's own signing key: the canary signs its tokens with it (SIGN), the authorizer
    # honours them for the canary account only (VERIFY); no other token is signed with it.
    canary_signing_key: KeyUse | None = None
    bedrock: bool = False  # invoke the stack's Bedrock model
    secrets: bool = False  # read the third-party credentials secret
    oauth: bool = False  # verify Google and Apple ID tokens (client ids in env)
    stores: bool = False  # App Store / Google Play notifications (store settings in env)
    # Creates the reserved canary account's profile (functions/common/canary.py): PutItem of
    # that one item, those attributes (components/iam.py).
    canary_account: bool = False
    # Reads accounts' analytics ids (GetItem/BatchGetItem of USER# profiles' PK, SK and
    # analytics_id only, components/iam.py): compaction's rewrite of pre-schema-4 days.
    analytics_ids: bool = False


# Modules that weigh on a cold start (tens of milliseconds each, against a floor of about
# 300 ms: docs/benchmarks.md). A function loads one at import only when its catalog entry
# declares it in `heavy_imports`; otherwise the first request that needs it does (a test
# imports each handler in a fresh interpreter and compares, tests/functions/test_cold_start.py).
# The time itself is measured by `make bench` (bench/cold_start.py).
HEAVY_MODULES: tuple[str, ...] = (
    "pydantic",  # request and result models
    "jwt",  # PyJWT (loads cryptography.x509 too)
    "cryptography.x509",  # Apple's certificate chains
    "cryptography.hazmat.primitives.ciphers.aead",  # AES-GCM of personal fields
    "aws_lambda_powertools.event_handler.openapi.models",  # the resolver's OpenAPI validation (pydantic)
    "aws_lambda_powertools.utilities.parser",  # Powertools' pydantic parser
    "pypdf",
    "PIL",
    "pyarrow",
)


@dataclass(frozen=True)
class Function:
    name: str  # folder under functions/, and the resource name suffix
    description: str
    memory_mb: int = 256
    timeout_s: int = 10
    routes: tuple[Route, ...] = ()
    trigger: Trigger | None = None
    access: Access = Access()
    warm: bool = False  # latency-critical: provisioned concurrency where the stack has it
    extra_packages: tuple[str, ...] = ()  # bundled with this function only (e.g. pyarrow)
    bundles: tuple[str, ...] = ()  # repository packages it also needs (e.g. "analytics")
    metrics: tuple[CustomMetric, ...] = ()
    # The HEAVY_MODULES its handler loads at import (init); any other loads on first use.
    heavy_imports: frozenset[str] = frozenset()
    # Per-alarm changes, by signal: {"duration-p99": {"threshold": 250000}}
    alarm_overrides: Mapping[str, Mapping[str, object]] = field(default_factory=dict)

    @property
    def custom_metrics(self) -> tuple[CustomMetric, ...]:
        return self.metrics + ((UNHANDLED_ERRORS,) if self.routes else ())

    @property
    def table_access(self) -> TableAccess:
        """What the role may do with the table: authorized routes check, on every request,
        that the caller's account still exists (functions/common/accounts.py), so they get
        CHECK_ACCOUNT at least, even when the entry declares no table access."""
        if self.access.table is TableAccess.NONE and any(r.authorized for r in self.routes):
            return TableAccess.CHECK_ACCOUNT
        return self.access.table

    @property
    def handler(self) -> str:
        return f"functions.{self.name}.handler.handler"

    @property
    def is_authorizer(self) -> bool:
        return self.name == AUTHORIZER

    @property
    def invoked_asynchronously(self) -> bool:
        """S3 notifications and schedules invoke asynchronously: failures go to a DLQ."""
        return isinstance(self.trigger, (S3Trigger, ScheduleTrigger))


# The API's token authorizer: authorized routes are guarded by the entry with this name.
AUTHORIZER = "authorizer"
# How long API Gateway (and the local emulator) reuse an authorizer's answer per token.
AUTHORIZER_CACHE_SECONDS = 300

CATALOG: tuple[Function, ...] = (
    Function(
        "auth",
        "OAuth onboarding and sign-in with Google or Apple; issues access tokens",
        memory_mb=512,
        timeout_s=10,
        warm=True,
        routes=(
            Route(
                "POST",
                "/api/v1/auth/oauth-onboarding",
                authorized=False,
                body="functions.auth.models:OnboardingRequest",
                response="functions.responses:SignedIn",
                success=(201, 200),  # 201 a new account; 200 an existing one (a sign-in)
                errors=(
                    (400, "consent_required"),
                    (401, "invalid_token"),
                    (403, "email_not_verified"),
                    (404, "user_not_found"),
                    (409, "onboarding_conflict"),
                    (503, "identity_provider_unavailable"),
                ),
            ),
            Route(
                "POST",
                "/api/v1/auth/oauth-signin",
                authorized=False,
                body="functions.auth.models:SignInRequest",
                response="functions.responses:SignedIn",
                latency_p99_ms=200,
                errors=((401, "invalid_token"), (404, "user_not_found"), (503, "identity_provider_unavailable")),
            ),
        ),
        access=Access(
            table=TableAccess.READ_WRITE,
            pii_key=KeyUse.ENCRYPT_DECRYPT,
            email_mac=True,
            signing_key=KeyUse.SIGN,
            oauth=True,
        ),
        metrics=(
            CustomMetric("Registrations", "New accounts", ("provider",), dashboards=("executive",)),
            CustomMetric("SignIns", "Sign-ins", ("provider", "flow"), dashboards=("executive",)),
            CustomMetric(
                "SignInFailures",
                "Failed sign-ins",
                ("provider", "reason"),
                dashboards=("security",),
                alarm=Threshold(
                    50,
                    "Users cannot sign in, or someone is trying forged or stolen ID tokens.",
                    (
                        "Security dashboard: failed sign-ins by reason (expired, wrong_audience, jwks_unavailable...)",
                        "If jwks_unavailable: can the auth function reach Google/Apple key endpoints?",
                        "If wrong_audience after a release: do serenya:googleClientIds/appleClientIds "
                        "match the app's client ids?",
                    ),
                ),
            ),
        ),
    ),
    Function(
        AUTHORIZER,
        "Verifies access tokens for API Gateway",
        memory_mb=256,
        timeout_s=5,
        warm=True,
        access=Access(table=TableAccess.CHECK_ACCOUNT, signing_key=KeyUse.VERIFY, canary_signing_key=KeyUse.VERIFY),
        # Every invocation verifies a token: PyJWT (with cryptography's X.509) at init.
        heavy_imports=frozenset({"jwt", "cryptography.x509"}),
        metrics=(
            CustomMetric(
                "AuthorizerRejections",
                "Rejected access tokens",
                ("reason",),
                dashboards=("security",),
                function_error=True,
                alarm=Threshold(
                    200,
                    "Many requests carry invalid tokens: a client bug after a release, or probing. "
                    "Refusals are 401 answers, not failures: they never page, and the authorizer's "
                    "errors alarms leave them out.",
                    (
                        "Security dashboard: rejections by reason (expired, invalid, unknown_key...)",
                        "A spike of unknown_key or invalid after a deploy: was the signing key replaced?",
                        "API access logs: are the rejections from few source IPs (WAF rate rule)?",
                    ),
                    severity="warning",
                ),
            ),
        ),
    ),
    Function(
        "user_profile",
        "The caller's profile: read, update, delete the account",
        memory_mb=256,
        timeout_s=15,
        routes=(
            Route("GET", "/api/v1/user/profile", response="functions.responses:Profile"),
            Route(
                "PUT",
                "/api/v1/user/profile",
                body="functions.user_profile.models:ProfileUpdate",
                response="functions.responses:User",
                errors=((400, "read_only_field"),),
            ),
            Route("DELETE", "/api/v1/user/profile", success=(204,)),
        ),
        access=Access(
            table=TableAccess.READ_WRITE,
            pii_key=KeyUse.ENCRYPT_DECRYPT,
            quota_view=True,
            temp_list=True,
            temp_delete=("incoming/", "outgoing/", "claims/"),
        ),
    ),
    Function(
        "upload",
        "Presigned POST for a new lab-report job",
        memory_mb=256,
        timeout_s=5,
        warm=True,
        routes=(
            Route(
                "POST",
                "/api/v1/process/upload",
                body="functions.common.requests:UploadRequest",
                response="functions.responses:UploadTicket",
                success=(201,),
                latency_p99_ms=500,
                errors=(
                    (400, "unsupported_media_type"),
                    (413, "file_too_large"),
                    (429, "quota_exceeded"),
                    JOBS_PAUSED,
                ),
            ),
        ),
        access=Access(
            table=TableAccess.CHECK_ACCOUNT, temp_write=("incoming/",), quota="documents", usage_records=True
        ),
        metrics=(
            CustomMetric("UploadsStarted", "Uploads started", ("content_type",), dashboards=("executive",)),
            QUOTA_REFUSALS,
        ),
    ),
    Function(
        "process",
        "Analyses a job's input with the model and writes its outcome",
        memory_mb=1024,
        timeout_s=300,
        trigger=S3Trigger("incoming/"),
        extra_packages=("pypdf", "pillow"),
        access=Access(
            table=TableAccess.CHECK_ACCOUNT,
            temp_read=("incoming/", "outgoing/", "claims/"),
            temp_list=True,
            temp_write=("outgoing/", "claims/"),
            temp_delete=("incoming/",),
            bedrock=True,
            usage_records=True,
        ),
        metrics=(
            # Users' jobs only: the canary's (functions/common/canary.py) are CanaryJobs, not product use.
            CustomMetric("Jobs", "Jobs finished", ("kind", "outcome"), dashboards=("operations",)),
            CustomMetric(
                "ModelFailures",
                "Jobs failed by the model",
                ("kind", "reason"),
                dashboards=("operations",),
                alarm=Threshold(
                    5,
                    "Lab reports, chat answers and doctor reports fail: Bedrock is unavailable, "
                    "throttling us, or refusing the model or our requests.",
                    (
                        "Widget 'process: Jobs finished, Jobs failed by the model, ...': the failures' reason; "
                        "unavailable is Bedrock throttling or down (runbook: switch model or pause jobs)",
                        "access_denied: run `make preflight STACK=<stack>` with an administrator's credentials; "
                        "it names what the account lacks. Anthropic needs its one-time use case form (Bedrock "
                        "console > Model catalog > the model) and the Marketplace subscription made by an "
                        "administrator (open the model in the playground once); the process role has no "
                        "aws-marketplace permissions on purpose. Access arrives within 15 minutes",
                        "model_not_found or request_invalid: is serenya:bedrockModelId still an active "
                        "inference profile in the region (make preflight checks it)? Change it and pulumi up",
                    ),
                    severity="critical",
                ),
            ),
            # Counted apart from ModelFailures (process/handler.py): a document written to
            # mislead the model makes an invalid reply as surely as a model regression does.
            CustomMetric(
                "RepliesRejected",
                "Model replies failing validation",
                ("kind",),
                dashboards=("operations",),
                alarm=Threshold(
                    10,
                    "Jobs fail as invalid_model_reply: the model's answers do not fit the result's "
                    "schema. Users see a failed job and may try again; nothing else is affected.",
                    (
                        "Operations dashboard: replies rejected by kind, against jobs finished",
                        "process logs: 'model reply failed validation' by job_kind; one user (a document "
                        "written to mislead the model, capped by the quotas) or every user?",
                        "Every user: did serenya:bedrockModelId or a prompt change in the last release? "
                        "Roll it back and pulumi up",
                    ),
                    severity="warning",
                ),
            ),
            CustomMetric("ModelRetries", "Model calls retried", ("reason",), dashboards=("operations",)),
            CustomMetric("ModelLatency", "Model latency", unit="Milliseconds", dashboards=("operations",)),
            CustomMetric("InputTokens", "Input tokens", dashboards=("operations",)),
            CustomMetric("OutputTokens", "Output tokens", dashboards=("operations",)),
            CustomMetric("JobsRejected", "Unrecognised incoming files", ("reason",), dashboards=("security",)),
            CustomMetric(
                "DocumentsRefused",
                "Inputs the model cannot take",
                ("kind", "reason"),
                dashboards=("operations",),
                # Each refusal is one user's file; many at once is a client release sending
                # what the model cannot read, or every input grown too long for the model.
                alarm=Threshold(
                    20,
                    "Many jobs fail as unreadable, unsupported or too long for the model. Users see "
                    "a failed job with its reason; nothing else is affected.",
                    (
                        "Operations dashboard: inputs refused by kind and reason",
                        "model_input_too_long from every user: did serenya:bedrockModelId change to a model "
                        "with a smaller context, or a prompt grow in the last release? Roll it back",
                        "unsupported or unreadable from one app version: the app's upload of that "
                        "version (content type, conversion of photos); tell the app team",
                    ),
                    severity="warning",
                ),
            ),
            CustomMetric("ImagePreparation", "Photo preparation time", unit="Milliseconds", dashboards=("operations",)),
            CustomMetric("DuplicateDeliveries", "Repeated S3 deliveries", ("kind",)),
            # The model's flag contradicted the value and its numeric range and was replaced
            # (functions/process/flags.py): a model regression or a document written to mislead.
            CustomMetric(
                "FlagDisagreements", "Model flags replaced", ("model_flag", "derived_flag"), dashboards=("security",)
            ),
            # The synthetic user's jobs by outcome: beside the model's signals, out of Jobs.
            CustomMetric("CanaryJobs", "Canary jobs finished", ("outcome",), dashboards=("operations",)),
        ),
    ),
    Function(
        "status",
        "Where a job stands, from S3 metadata",
        memory_mb=256,
        timeout_s=5,
        warm=True,
        routes=(
            Route(
                "GET",
                "/api/v1/process/status/{job_id}",
                response="functions.responses:JobStatus",
                latency_p99_ms=100,
                errors=((404, "job_not_found"),),
            ),
        ),
        access=Access(table=TableAccess.CHECK_ACCOUNT, temp_read=("incoming/", "outgoing/"), temp_list=True),
    ),
    Function(
        "result",
        "The outcome of a job: lab report, doctor report or chat answer",
        memory_mb=256,
        timeout_s=5,
        warm=True,
        routes=(
            Route(
                "GET",
                "/api/v1/process/result/{job_id}",
                response="functions.responses:JobResult",
                latency_p99_ms=300,
                errors=((404, "job_not_found"), (409, "not_ready")),
            ),
        ),
        access=Access(table=TableAccess.CHECK_ACCOUNT, temp_read=("incoming/", "outgoing/"), temp_list=True),
    ),
    Function(
        "cleanup",
        "Deletes a job's files, leaving a tombstone so the job reads as gone at once",
        memory_mb=256,
        timeout_s=5,
        routes=(Route("DELETE", "/api/v1/process/cleanup/{job_id}", success=(204,), errors=((404, "job_not_found"),)),),
        # temp_write outgoing/: the empty tombstone that replaces the outcome (common/jobs.py)
        access=Access(table=TableAccess.CHECK_ACCOUNT, temp_write=("outgoing/",), temp_delete=("incoming/", "claims/")),
    ),
    Function(
        "chat_prompts",
        "The suggested chat questions",
        memory_mb=128,
        timeout_s=3,
        routes=(Route("GET", "/api/v1/chat/prompts", response="functions.responses:ChatPrompts"),),
        access=Access(table=TableAccess.CHECK_ACCOUNT),
    ),
    Function(
        "chat_messages",
        "Stores a chat question with its on-device context as a job",
        memory_mb=256,
        timeout_s=5,
        routes=(
            Route(
                "POST",
                "/api/v1/chat/messages",
                body="functions.common.requests:ChatRequest",
                response="functions.responses:Accepted",
                success=(202,),
                errors=((400, "unknown_prompt"), (429, "quota_exceeded"), JOBS_PAUSED),
            ),
        ),
        access=Access(table=TableAccess.CHECK_ACCOUNT, temp_write=("incoming/",), quota="chat_messages"),
        metrics=(QUOTA_REFUSALS,),
    ),
    Function(
        "chat_status",
        "A chat job, with the answer once it is ready",
        memory_mb=256,
        timeout_s=5,
        routes=(
            Route(
                "GET",
                "/api/v1/chat/status/{job_id}",
                response="functions.responses:ChatStatus",
                errors=((404, "job_not_found"),),
            ),
        ),
        access=Access(table=TableAccess.CHECK_ACCOUNT, temp_read=("incoming/", "outgoing/"), temp_list=True),
    ),
    Function(
        "doctor_report",
        "Starts a premium doctor-report job",
        memory_mb=256,
        timeout_s=10,
        routes=(
            Route(
                "POST",
                "/api/v1/process/doctor-report",
                body="functions.common.requests:DoctorReportRequest",
                response="functions.responses:Accepted",
                success=(202,),
                errors=((403, "premium_required"), (429, "quota_exceeded"), JOBS_PAUSED),
            ),
        ),
        access=Access(table=TableAccess.READ, temp_write=("incoming/",), quota="doctor_reports"),
        metrics=(QUOTA_REFUSALS,),
    ),
    Function(
        "subscriptions",
        "The caller's plan; App Store and Google Play notifications",
        memory_mb=256,
        timeout_s=15,
        routes=(
            Route("GET", "/api/v1/subscriptions", response="functions.responses:CurrentSubscription"),
            # 503 store_unavailable: the store cannot be asked now; Pub/Sub delivers again.
            Route(
                "POST",
                "/api/v1/subscriptions/webhook",
                authorized=False,
                response="functions.responses:WebhookAnswer",
                errors=((400, "invalid_notification"), (401, "invalid_signature"), (503, "store_unavailable")),
            ),
        ),
        access=Access(table=TableAccess.READ_WRITE, secrets=True, stores=True),
        metrics=(
            CustomMetric(
                "Notifications", "Store notifications", ("store", "type", "outcome"), dashboards=("executive",)
            ),
            CustomMetric(
                "SubscriptionChanges", "Subscription upgrades and downgrades", ("direction",), dashboards=("executive",)
            ),
            CustomMetric(
                "WebhookRejections",
                "Rejected store notifications",
                ("store", "reason"),
                dashboards=("security",),
                alarm=Threshold(
                    10,
                    "Store notifications are refused: subscriptions stop updating (users pay and "
                    "stay free, or keep premium after cancelling), or someone forges notifications.",
                    (
                        "Security dashboard: rejections by store and reason",
                        "untrusted_root or bad_chain for every Apple notification: did Apple rotate its "
                        "root? Check serenya:appleRootSha256",
                        "unauthenticated for Google: do googlePubsubAudience and "
                        "googlePubsubServiceAccount match the Pub/Sub push subscription?",
                    ),
                ),
            ),
            CustomMetric(
                "StoreApiFailures",
                "Store credential and Play Developer API failures",
                ("store", "reason"),
                dashboards=("operations",),
                alarm=Threshold(
                    5,
                    "Google Play subscription changes are delayed: the webhook answers 503 and "
                    "Pub/Sub delivers them again.",
                    (
                        "Operations dashboard: failures by reason. secret_not_set, secret_missing_keys, "
                        "secret_not_json: put the service account key in the third-party secret",
                        "secret_access_denied or secret_decryption_failed: the function's role and the storage "
                        "key policy; service_account_key_invalid, play_api_failed or play_acknowledge_failed: "
                        "valid key, Play Console access (view and manage orders)?",
                        "Google Cloud status for the Android Publisher API",
                    ),
                ),
            ),
        ),
    ),
    Function(
        "stream_processor",
        "Turns every account change on the table's stream into audit events (Parquet)",
        memory_mb=512,
        timeout_s=60,
        trigger=StreamTrigger(batch_size=100, batching_window_seconds=5),
        access=Access(events_write=True),
        extra_packages=("pyarrow",),
        bundles=("analytics",),
        heavy_imports=frozenset({"pyarrow"}),  # every batch writes Parquet
        metrics=(
            CustomMetric("AuditEvents", "Audit events written", ("event_type",), dashboards=("executive",)),
            # The executive document volume, counted from the usage records' events (the
            # glossary's numbers), not from the process function's own count.
            CustomMetric(
                "DocumentsProcessed", "Documents processed", ("job_kind", "outcome"), dashboards=("executive",)
            ),
            CustomMetric("BatchLatency", "Stream batch latency", unit="Milliseconds", dashboards=("operations",)),
            # Events of accounts that have no analytics id yet (made before them, not signed
            # in since): not written, since the lake never holds a user id.
            CustomMetric(
                "EventsWithoutAnalyticsId",
                "Audit events dropped: no analytics id",
                ("event_type",),
                dashboards=("operations",),
            ),
        ),
    ),
    Function(
        "compaction",
        "Merges the previous day's audit files into one per partition",
        memory_mb=1024,
        timeout_s=300,
        trigger=ScheduleTrigger("cron(30 1 * * ? *)"),
        # The table: the analytics ids of the accounts named in pre-schema-4 days.
        access=Access(table=TableAccess.CHECK_ACCOUNT, analytics_ids=True, events_read=True, events_write=True),
        extra_packages=("pyarrow",),
        bundles=("analytics",),
        heavy_imports=frozenset({"pyarrow"}),  # every run reads and writes Parquet
        metrics=(CustomMetric("CompactedFiles", "Audit files merged", dashboards=("operations",)),),
    ),
    Function(
        "canary",
        "A synthetic user: the public endpoint, then a generated lab report uploaded, analysed and read back",
        memory_mb=256,
        # A normal lab job takes about 10 s; a job still running at the deadline is a failure.
        timeout_s=120,
        # Each run is a model job: serenya:canaryRate sets how often per stack (prod every 10
        # minutes, dev every 30). A failed run is not retried: the next run is the retry.
        trigger=ScheduleTrigger(
            "rate(10 minutes)", AsyncRetries(attempts=0, max_age_s=300), public_url=True, rate_key="canaryRate"
        ),
        # Its own key, not the access-token key: a token it could sign for another user would
        # not be honoured (functions/common/tokens.py verify).
        access=Access(canary_signing_key=KeyUse.SIGN, canary_account=True),
        # One run per period at most: "more than 10 errors in 5 minutes" could never fire. A crash
        # or a timeout means the run measured nothing (its journey's failures page, canary-failures).
        alarm_overrides={
            "errors": {
                "threshold": 0,
                "severity": "warning",
                "title": "canary failed (a crash or a timeout): that run measured nothing",
            }
        },
        metrics=(
            CustomMetric("CanarySuccess", "Canary journeys succeeded (1) or failed (0)", dashboards=("operations",)),
            CustomMetric("CanaryDuration", "Canary journey duration", unit="Milliseconds", dashboards=("operations",)),
            CustomMetric(
                "CanaryFailures",
                "Canary journeys failed",
                ("step",),
                dashboards=("operations",),
                # Two failed runs of three (one period per run): a broken journey, not one blip,
                # and a run landing late in the next period does not reset the count.
                alarm=Threshold(
                    0,
                    "The synthetic user cannot complete the critical journey: users cannot sign in "
                    "to the API, upload a lab report or get its result, and may not have noticed yet.",
                    (
                        "Operations dashboard: canary journeys failed by step (endpoint, upload, s3_post, "
                        "status, process, result); canary logs: 'canary journey failed' with its detail",
                        "process (job failed): the model; see process-model-failures and the Bedrock widgets. "
                        "endpoint or upload with HTTP 5xx: api-5xx, the authorizer and table alarms",
                        "unreachable: CloudFront and the API stage. After a deploy: roll back the release "
                        "and pulumi up; confirm recovery by the next runs' CanarySuccess of 1",
                    ),
                    severity="critical",
                    periods=3,
                    datapoints=2,
                    per_run=True,
                ),
            ),
        ),
    ),
)


def by_name(catalog: tuple[Function, ...] = CATALOG) -> dict[str, Function]:
    return {f.name: f for f in catalog}


def objective_problems(what: str, objective: Objective) -> list[str]:
    """An objective of 100% has no error budget (every failure would exhaust it); one of 0%
    or less promises nothing; its window is what the budget and the dashboards count over."""
    problems = []
    if not 0 < objective.target < 1:
        problems.append(
            f"{what}: objective {objective.target!r} must be a share strictly between 0 and 1 (0.999 for 99.9%)"
        )
    if not 1 <= objective.window_days <= 90:
        problems.append(f"{what}: objective window of {objective.window_days} days outside 1..90")
    return problems


def validate(catalog: tuple[Function, ...], availability: Objective = AVAILABILITY) -> list[str]:
    """Problems that would make the derived infrastructure wrong; empty when consistent."""
    problems: list[str] = objective_problems("API availability", availability)
    names = [f.name for f in catalog]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{name}: listed more than once")
    seen_routes: dict[tuple[str, str], str] = {}
    for f in catalog:
        if not f.name.isidentifier():
            problems.append(f"{f.name}: name must be a Python identifier (it is a package)")
        if not 128 <= f.memory_mb <= 10240:
            problems.append(f"{f.name}: memory {f.memory_mb} MB outside 128..10240")
        if not 1 <= f.timeout_s <= 900:
            problems.append(f"{f.name}: timeout {f.timeout_s}s outside 1..900")
        for route in f.routes:
            key = (route.method, route.path)
            if key in seen_routes:
                problems.append(f"{f.name}: {route.method} {route.path} already served by {seen_routes[key]}")
            seen_routes[key] = f.name
            if route.method not in ("GET", "POST", "PUT", "DELETE", "PATCH"):
                problems.append(f"{f.name}: unsupported method {route.method}")
            if not route.path.startswith("/api/v1/"):
                problems.append(f"{f.name}: route {route.path} is outside /api/v1/")
            if route.latency_p99_ms is not None:
                if route.latency_p99_ms <= 0:
                    problems.append(f"{f.name}: {route.method} {route.path} latency target must be positive")
                problems += objective_problems(
                    f"{f.name}: {route.method} {route.path} latency", route.latency_objective
                )
        for module in sorted(f.heavy_imports - set(HEAVY_MODULES)):
            problems.append(f"{f.name}: heavy import {module} is not one of HEAVY_MODULES")
        if f.routes and f.trigger:
            problems.append(f"{f.name}: has both routes and a trigger")
        if f.access.quota is not None and f.access.quota not in QUOTA_KINDS:
            problems.append(f"{f.name}: quota {f.access.quota!r} is not one of {', '.join(QUOTA_KINDS)}")
        if isinstance(f.trigger, S3Trigger) and f.trigger.prefix not in f.access.temp_read:
            problems.append(f"{f.name}: triggered by {f.trigger.prefix} but may not read it")
        for m in f.custom_metrics:
            if m.function_error and m.alarm is not None and m.alarm.severity != "warning":
                problems.append(
                    f"{f.name}: {m.name} counts expected answers (function_error): its alarm must "
                    f"be a warning, never page"
                )
            if m.function_error and m.unit != "Count":
                problems.append(f"{f.name}: {m.name} is subtracted from Errors, so it must be a Count")
    if any(r.authorized for f in catalog for r in f.routes) and AUTHORIZER not in names:
        problems.append(f"authorized routes exist but no '{AUTHORIZER}' function guards them")
    return problems
