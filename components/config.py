"""Stack settings: every per-stack difference, read once into one frozen object.

The values live in Pulumi.<stack>.yaml. Pulumi hands them over as strings (structured
values as JSON); this module parses and validates all of them before a single resource
is declared, and reports every bad key at once, by name.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analytics_queries.glossary import DEFAULT_STORE_COMMISSION_PERCENT
from components import concurrency
from functions.catalog import CATALOG, Function, ScheduleTrigger
from functions.common import quotas as quotas_module

NAMESPACE = "serenya"
PROJECT = "serenya"
ROOT = Path(__file__).resolve().parent.parent  # the repository: Pulumi.yaml and the stack files

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

# The alias of a warm function (a published version with provisioned concurrency): what its
# triggers and the API invoke, and what a rollback moves back (docs/runbooks.md).
LIVE_ALIAS = "live"

# Runtime and architecture of every function; the Powertools layer must match them.
LAMBDA_RUNTIME = "python3.13"
LAMBDA_ARCHITECTURE = "arm64"

# Claude 3 Haiku reached end of life in 2026; the default is the active Haiku
# cross-region inference profile of the stack's geography.
DEFAULT_BEDROCK_MODELS = {
    "eu": "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
    "us": "us.anthropic.claude-haiku-4-5-20251001-v1:0",
    "ap": "apac.anthropic.claude-haiku-4-5-20251001-v1:0",
}

_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:\d{1,5})?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")
_POWERTOOLS_LAYER = re.compile(
    r"^arn:aws:lambda:(?P<region>[a-z0-9-]+):017000801446:layer:"
    r"AWSLambdaPowertoolsPythonV3-(?P<runtime>python3\d+)-(?P<arch>arm64|x86_64):\d+$"
)
_GOOGLE_CLIENT_ID = re.compile(r"^[A-Za-z0-9-]+\.apps\.googleusercontent\.com$")
_APPLE_CLIENT_ID = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_APPLE_ENVIRONMENT = re.compile(r"^(Sandbox|Production)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_HTTPS_URL = re.compile(r"^https://[a-z0-9.-]+(:\d+)?(/[A-Za-z0-9._~/-]*)?$")
# An https URL of a page (no fragment: the alarm's section is appended as one).
_RUNBOOK_URL = re.compile(r"^https://[a-z0-9.-]+(:\d+)?(/[A-Za-z0-9._~/%+-]*)?$")
# An EventBridge rate expression (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html):
# 1 takes the singular unit, any other value the plural.
_RATE = re.compile(r"^rate\((?P<value>1 (?P<one>minute|hour)|(?P<many>[2-9]|[1-9]\d+) (?P<unit>minutes|hours))\)$")
# A rate-set schedule's alarm takes one period per run over two runs: CloudWatch allows at most
# a day of evaluation, and a canary run less often than hourly notices nothing first.
RATE_MINUTES = (1, 60)
_SERVICE_ACCOUNT = re.compile(r"^[a-z0-9-]+@[a-z0-9-]+\.iam\.gserviceaccount\.com$")
_PRODUCT_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_AI_PROVIDER = re.compile(r"^bedrock$")
_DOMAIN = re.compile(r"^([a-z0-9-]+\.)+[a-z]{2,}$")
_CLOUDFRONT_CERTIFICATE = re.compile(r"^arn:aws:acm:us-east-1:\d{12}:certificate/[0-9a-f-]{36}$")
_REGIONAL_CERTIFICATE = re.compile(r"^arn:aws:acm:(?P<region>[a-z0-9-]+):\d{12}:certificate/[0-9a-f-]{36}$")
# A model id, a system-defined inference profile id (`eu.<model id>`) or a foundation
# model's ARN. Not an application inference profile's ARN: the models it routes to (which
# the roles must name, conditioned on the profile) cannot be known offline.
_MODEL_ID = re.compile(r"^[a-z0-9.-]+:\d+$|^arn:aws:bedrock:[a-z0-9-]+::foundation-model/[a-z0-9.-]+:\d+$")
# The inference profile geographies whose regions keep a stack's data in its own
# geography (by the first two letters of the stack's region). `global.` profiles route
# to any commercial region, so they are refused: the design keeps data in its geography.
# https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-support.html
PROFILE_GEOGRAPHIES = {"eu": ("eu",), "us": ("us", "us-gov"), "ap": ("apac", "jp", "au"), "ca": ("ca",)}

# Keys a stack file may still carry from an older version, and where their job went.
# Pulumi passes every key of the file and the program reads only those it knows, so an
# old key would otherwise be ignored without a word while its stack behaves differently.
RETIRED_KEYS = {
    "serenya:manageApiGatewayAccount": "retired: API Gateway's logging role and account setting are one per "
    "account and region and "
    'belong to no backend stack; the account stack (account/, README "Deploy") holds them. '
    "Delete this key from the stack file and deploy the account stack once per account and region",
}


# Names the stack name goes into, and AWS's limits on them. Buckets end in
# -<12-digit account id> (components/storage.py); a function, its IAM role and its log
# group share serenya-<stack>-<function>; its failure queue adds -failures.
#   S3: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
#   Lambda FunctionName: https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html
#   IAM RoleName: https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html
#   SQS QueueName: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html
BUCKET_PURPOSES = ("temp", "events", "athena-results", "artifacts")
ACCOUNT_SUFFIX = len("-123456789012")
NAME_LIMITS = {"bucket": 63, "function": 64, "role": 64, "queue": 80}
_STACK_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


class ConfigError(ValueError):
    """One or more stack settings are missing or invalid; the message names each key."""


@dataclass(frozen=True)
class ApiThrottle:
    rate_limit: float  # steady-state requests per second for the stage
    burst_limit: int


@dataclass(frozen=True)
class StoreSettings:
    """Where subscription notifications come from and what they may buy."""

    apple_bundle_id: str
    apple_environment: str  # Sandbox or Production
    apple_root_sha256: str  # pinned SHA-256 of Apple Root CA - G3 (DER)
    google_package_name: str
    google_pubsub_audience: str  # the audience of Pub/Sub's push OIDC tokens
    google_pubsub_service_account: str
    premium_products: tuple[str, ...]
    play_api_base_url: str | None = None
    # (product id, price in milli-units, ISO 4217 currency, months a payment covers): the list
    # price and period of each premium product, for revenue where the store sends no price and
    # for spreading a yearly payment over its months (analytics_queries/prices.py)
    list_prices: tuple[tuple[str, int, str, int], ...] = ()
    # The stores' commission on subscriptions, percent (serenya:storeCommission): net revenue
    # in mrr_monthly (analytics_queries/glossary.py says why 15% when unset).
    commission_percent: int = DEFAULT_STORE_COMMISSION_PERCENT


@dataclass(frozen=True)
class Settings:
    """Everything that differs between stacks. Built once, shared by every layer."""

    project: str
    env: str  # the stack name: dev, prod
    region: str
    allowed_origins: tuple[str, ...]
    log_retention_days: int
    detailed_logging: bool
    alert_email: str | None
    point_in_time_recovery: bool
    deletion_protection: bool
    reserved_concurrency: tuple[tuple[str, int], ...]  # (function, ceiling) where one protects something
    provisioned_concurrency: int  # per latency-critical function; 0 = none
    api_throttle: ApiThrottle
    bedrock_model_id: str
    google_client_ids: tuple[str, ...]
    apple_client_ids: tuple[str, ...]
    powertools_layer_arn: str
    stores: StoreSettings | None = None  # App Store and Google Play
    detailed_alarms: bool = False  # latency targets, 4XX rate, concurrency...
    api_domain: str | None = None  # custom domain of the API (CloudFront alias)
    api_certificate_arn: str | None = None  # its ACM certificate, in us-east-1
    api_origin_certificate_arn: str | None = None  # the same domain's certificate in the stack's region
    account_concurrency: int = concurrency.DEFAULT_ACCOUNT_QUOTA  # Lambda concurrency quota in the region
    cloudfront: bool = True  # CloudFront and the WAF in front of the stage
    # On-call's switch: the functions that start model work answer 503 jobs_paused (a Bedrock outage)
    new_jobs_paused: bool = False
    secret_keys: frozenset[str] = frozenset()  # keys set with `pulumi config set --secret`
    # Where docs/runbooks.md is published (e.g. on the git host): alarm descriptions then
    # link `<url>#<section>` instead of naming the file's path.
    runbook_base_url: str | None = None
    # (function, rate expression) of the schedules whose rate the stack sets (a ScheduleTrigger's
    # rate_key, e.g. serenya:canaryRate); the others run at their catalog expression.
    schedule_rates: tuple[tuple[str, str], ...] = ()
    # Per-user limits of model-backed work by plan, kind and window (functions/common/quotas.py),
    # as canonical JSON: what the counting functions receive in QUOTAS.
    quotas: str = json.dumps(quotas_module.DEFAULT_LIMITS, sort_keys=True)

    @property
    def quota_limits(self) -> dict:
        return json.loads(self.quotas)

    def name(self, *parts: str) -> str:
        """Physical resource name: serenya-{env}[-part...]."""
        return "-".join((self.project, self.env, *parts))

    @property
    def execute_api_disabled(self) -> bool:
        """CloudFront reaches the API through its regional custom domain, so the default
        execute-api endpoint (which bypasses CloudFront and the WAF) can be turned off."""
        return self.cloudfront and bool(self.api_domain)

    def schedule_expression(self, fn: Function) -> str:
        """The EventBridge expression that starts a scheduled function in this stack."""
        assert isinstance(fn.trigger, ScheduleTrigger), f"{fn.name} is not scheduled"
        return dict(self.schedule_rates).get(fn.name, fn.trigger.expression)

    def schedule_period_s(self, fn: Function) -> int:
        """Seconds between a rate-scheduled function's runs in this stack."""
        minutes = rate_minutes(self.schedule_expression(fn))
        assert minutes is not None, f"{fn.name}: {self.schedule_expression(fn)!r} is not a rate(...)"
        return minutes * 60

    @property
    def is_production(self) -> bool:
        return self.env == "prod"

    def live_alias(self, fn: Function) -> str | None:
        """The alias a latency-critical function is invoked through where the stack keeps
        functions warm (serenya:provisionedConcurrency); None: invoked unqualified, no versions."""
        return LIVE_ALIAS if fn.warm and self.provisioned_concurrency > 0 else None

    def reserved_for(self, function: str) -> int | None:
        """The function's reserved concurrency, or None: it draws from the account's pool."""
        return dict(self.reserved_concurrency).get(function)

    @property
    def application_log_level(self) -> str:
        # With Lambda's JSON log format, Lambda filters by these levels before Powertools sees
        # a record, so they must follow serenya:detailedLogging too.
        return "DEBUG" if self.detailed_logging else "INFO"

    @property
    def system_log_level(self) -> str:
        return "INFO" if self.detailed_logging else "WARN"


ConfigGetter = Callable[[str], str | None]


class _Reader:
    """Reads and parses keys, collecting every problem instead of stopping at the first."""

    def __init__(self, get: ConfigGetter):
        self._get = get
        self.errors: list[str] = []

    def _raw(self, key: str, required: bool) -> str | None:
        value = self._get(key)
        if value is None or value == "":
            if required:
                self.errors.append(f"{key}: missing (set it in Pulumi.<stack>.yaml)")
            return None
        return value

    def _fail(self, key: str, why: str) -> None:
        self.errors.append(f"{key}: {why}")

    def string(self, key: str, pattern: re.Pattern, what: str, required: bool = True) -> str | None:
        value = self._raw(key, required)
        if value is not None and not pattern.match(value):
            self._fail(key, f"{value!r} is not {what}")
            return None
        return value

    def boolean(self, key: str) -> bool:
        value = self._raw(key, True)
        if value is None:
            return False
        if value.lower() not in ("true", "false"):
            self._fail(key, f"{value!r} is not true or false")
            return False
        return value.lower() == "true"

    def optional_boolean(self, key: str) -> bool:
        """A boolean that may be left out (false)."""
        if self._raw(key, False) is None:
            return False
        return self.boolean(key)

    def integer(self, key: str, low: int, high: int) -> int:
        value = self._raw(key, True)
        if value is None:
            return low
        try:
            number = int(value)
        except ValueError:
            self._fail(key, f"{value!r} is not an integer")
            return low
        if not low <= number <= high:
            self._fail(key, f"{number} is outside {low}..{high}")
        return number

    def structured(self, key: str, required: bool = True) -> Any:
        value = self._raw(key, required)
        if value is None:
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            self._fail(key, "is not a list or object")
            return None

    def optional_integer(self, key: str, low: int, high: int, default: int) -> int:
        return default if self._raw(key, False) is None else self.integer(key, low, high)

    def integer_map(self, key: str, names: tuple[str, ...], low: int, high: int) -> tuple[tuple[str, int], ...]:
        """A mapping of known names to integers in low..high, e.g. {process: 50}."""
        value = self.structured(key)
        if value is None:
            return ()
        if not isinstance(value, dict):
            self._fail(key, "must be a mapping of function names to integers")
            return ()
        pairs = []
        for name, number in sorted(value.items()):
            if name not in names:
                self._fail(key, f"{name!r} is not a function of the catalog")
            elif isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high:
                self._fail(key, f"{name}: {number!r} is not an integer in {low}..{high}")
            else:
                pairs.append((name, number))
        return tuple(pairs)

    def string_list(self, key: str, pattern: re.Pattern, what: str) -> tuple[str, ...]:
        value = self.structured(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            self._fail(key, "must be a non-empty list of strings")
            return ()
        bad = [v for v in value if not pattern.match(v)]
        if bad:
            self._fail(key, f"{', '.join(map(repr, bad))} {'is' if len(bad) == 1 else 'are'} not {what}")
        return tuple(value)


def rate_minutes(expression: str) -> int | None:
    """Minutes between the runs of rate(...) (None for anything else)."""
    match = _RATE.match(expression)
    if match is None:
        return None
    value, unit = (1, match["one"]) if match["one"] else (int(match["many"]), match["unit"])
    return value * (60 if unit.startswith("hour") else 1)


def _schedule_rates(r: _Reader) -> tuple[tuple[str, str], ...]:
    rates = []
    for fn in CATALOG:
        if not isinstance(fn.trigger, ScheduleTrigger) or fn.trigger.rate_key is None:
            continue
        key = f"{NAMESPACE}:{fn.trigger.rate_key}"
        value = r.string(key, _RATE, "an EventBridge rate expression like rate(10 minutes)", required=False)
        minutes = rate_minutes(value) if value else None
        if value is None or minutes is None:
            continue
        if not RATE_MINUTES[0] <= minutes <= RATE_MINUTES[1]:
            r.errors.append(f"{key}: {value} is outside {RATE_MINUTES[0]} minute to {RATE_MINUTES[1]} minutes")
        else:
            rates.append((fn.name, value))
    return tuple(rates)


def stack_name_problems(stack: str, catalog=CATALOG) -> list[str]:
    """Why `stack` cannot name this stack's resources (empty when it can): S3 bucket names
    are lowercase letters, digits and hyphens, and each name has a length limit."""
    if not _STACK_NAME.match(stack):
        return [
            f"stack name {stack!r}: use lowercase letters, digits and hyphens, starting and ending with a "
            f"letter or digit (it names S3 buckets, which allow nothing else)"
        ]
    base = f"{PROJECT}-{stack}"
    longest_function = max((f.name for f in catalog), key=len, default="")
    names = {
        "bucket": f"{base}-{max(BUCKET_PURPOSES, key=len)}" + "-" * ACCOUNT_SUFFIX,
        "function": f"{base}-{longest_function}",
        "role": f"{base}-{longest_function}",
        "queue": f"{base}-{longest_function}-failures",
    }
    room = min(NAME_LIMITS[kind] - len(name) for kind, name in names.items())
    if room >= 0:
        return []
    worst = [
        f"{kind} names up to {len(name)} characters (limit {NAME_LIMITS[kind]})"
        for kind, name in names.items()
        if len(name) > NAME_LIMITS[kind]
    ]
    return [
        f"stack name {stack!r} is {-room} character(s) too long: it would give {'; '.join(worst)}. "
        f"Use at most {len(stack) + room} characters"
    ]


def load_settings(get: ConfigGetter, stack: str, secret_keys: frozenset[str] = frozenset()) -> Settings:
    """Builds the settings of `stack` from full config keys (`serenya:...`, `aws:region`).
    `secret_keys` are the keys whose values are secrets in the stack file."""
    r = _Reader(get)
    r.errors.extend(stack_name_problems(stack))
    r.errors.extend(f"{key}: {why}" for key, why in RETIRED_KEYS.items() if get(key) is not None)
    ns = NAMESPACE

    region = r.string("aws:region", _REGION, "an AWS region") or ""
    origins = r.string_list(f"{ns}:allowedOrigins", _ORIGIN, "an origin like https://app.example.com")
    retention = r.integer(f"{ns}:logRetentionDays", 1, 3653)
    if retention not in LOG_RETENTION_DAYS:
        r.errors.append(
            f"{ns}:logRetentionDays: {retention} is not a CloudWatch Logs "
            f"retention period ({', '.join(map(str, LOG_RETENTION_DAYS))})"
        )

    throttle = _api_throttle(r, f"{ns}:apiThrottle")
    layer = (
        r.string(f"{ns}:powertoolsLayerArn", _POWERTOOLS_LAYER, "a Powertools for AWS Lambda (Python) V3 layer ARN")
        or ""
    )
    if layer:
        _check_layer(r, f"{ns}:powertoolsLayerArn", layer, region)

    model = r.string(
        f"{ns}:bedrockModelId", _MODEL_ID, "a Bedrock model or inference profile id", required=False
    ) or DEFAULT_BEDROCK_MODELS.get(region[:2], "")
    if not model and region:
        r.errors.append(f"{ns}:bedrockModelId: no default for region {region}; set it")
    geography = model.partition(".")[0] if "." in model and not model.startswith("arn:") else ""
    from components.iam import INFERENCE_PROFILE_GEOGRAPHIES

    if geography in INFERENCE_PROFILE_GEOGRAPHIES and geography not in PROFILE_GEOGRAPHIES.get(region[:2], ()):
        r.errors.append(
            f"{ns}:bedrockModelId: the inference profile {model} routes requests outside {region}'s "
            f"geography; use a profile of {', '.join(PROFILE_GEOGRAPHIES.get(region[:2], ())) or 'none'}"
            f" (e.g. {DEFAULT_BEDROCK_MODELS.get(region[:2], 'a model id in the region')})"
        )

    # The offline analyser is the local stack's stand-in (local/offline/): no Lambda archive
    # holds it, and a deployed stack that named it would analyse nothing. Refused for every
    # stack, not only prod: the local stack installs it in its own process, no key needed.
    if get(f"{ns}:aiProvider") == "offline":
        r.errors.append(
            f"{ns}:aiProvider: offline is the local stack's stand-in for Bedrock, in no Lambda "
            "archive; a deployed stack always calls Bedrock (set bedrock or delete the key)"
        )
    else:
        r.string(f"{ns}:aiProvider", _AI_PROVIDER, "bedrock (the one provider a deployed stack has)", required=False)

    settings = Settings(
        project=PROJECT,
        env=stack,
        region=region,
        allowed_origins=origins,
        log_retention_days=retention,
        detailed_logging=r.boolean(f"{ns}:detailedLogging"),
        alert_email=r.string(f"{ns}:alertEmail", _EMAIL, "an email address", required=False),
        point_in_time_recovery=r.boolean(f"{ns}:pointInTimeRecovery"),
        deletion_protection=r.boolean(f"{ns}:deletionProtection"),
        reserved_concurrency=r.integer_map(f"{ns}:reservedConcurrency", tuple(f.name for f in CATALOG), 1, 900),
        provisioned_concurrency=r.integer(f"{ns}:provisionedConcurrency", 0, 100),
        api_throttle=throttle,
        bedrock_model_id=model,
        google_client_ids=r.string_list(
            f"{ns}:googleClientIds", _GOOGLE_CLIENT_ID, "a Google OAuth client id (*.apps.googleusercontent.com)"
        ),
        apple_client_ids=r.string_list(f"{ns}:appleClientIds", _APPLE_CLIENT_ID, "an Apple bundle or services id"),
        powertools_layer_arn=layer,
        # Also bound here, where it is known to be set (the field is Optional), in the order the keys are read.
        stores=(
            stores := StoreSettings(
                apple_bundle_id=r.string(f"{ns}:appleBundleId", _APPLE_CLIENT_ID, "an App Store bundle id") or "",
                apple_environment=r.string(f"{ns}:appleEnvironment", _APPLE_ENVIRONMENT, "Sandbox or Production") or "",
                apple_root_sha256=r.string(
                    f"{ns}:appleRootSha256", _SHA256, "a SHA-256 in lowercase hex (of Apple Root CA - G3)"
                )
                or "",
                google_package_name=r.string(f"{ns}:googlePackageName", _APPLE_CLIENT_ID, "an Android package name")
                or "",
                google_pubsub_audience=r.string(f"{ns}:googlePubsubAudience", _HTTPS_URL, "an https URL") or "",
                google_pubsub_service_account=r.string(
                    f"{ns}:googlePubsubServiceAccount", _SERVICE_ACCOUNT, "a Google service account email"
                )
                or "",
                premium_products=r.string_list(f"{ns}:premiumProducts", _PRODUCT_ID, "a store product id"),
                play_api_base_url=r.string(f"{ns}:playApiBaseUrl", _HTTPS_URL, "an https URL", required=False),
                list_prices=_list_prices(r, f"{ns}:listPrices"),
                commission_percent=r.optional_integer(f"{ns}:storeCommission", 0, 99, DEFAULT_STORE_COMMISSION_PERCENT),
            )
        ),
        detailed_alarms=r.boolean(f"{ns}:detailedAlarms"),
        quotas=_quotas(r, f"{ns}:quotas"),
        api_domain=r.string(f"{ns}:apiDomain", _DOMAIN, "a domain name", required=False),
        api_certificate_arn=r.string(
            f"{ns}:apiCertificateArn", _CLOUDFRONT_CERTIFICATE, "an ACM certificate ARN in us-east-1", required=False
        ),
        api_origin_certificate_arn=r.string(
            f"{ns}:apiOriginCertificateArn", _REGIONAL_CERTIFICATE, "an ACM certificate ARN", required=False
        ),
        account_concurrency=r.optional_integer(
            f"{ns}:accountConcurrency", 10, 100_000, concurrency.DEFAULT_ACCOUNT_QUOTA
        ),
        cloudfront=r.boolean(f"{ns}:cloudFront"),
        new_jobs_paused=r.optional_boolean(f"{ns}:newJobsPaused"),
        secret_keys=frozenset(secret_keys),
        runbook_base_url=r.string(f"{ns}:runbookBaseUrl", _RUNBOOK_URL, "an https URL without a #", required=False),
        schedule_rates=_schedule_rates(r),
    )
    not_premium = {p for p, *_ in stores.list_prices} - set(stores.premium_products)
    if not_premium:
        r.errors.append(f"{ns}:listPrices: {', '.join(sorted(not_premium))} not in {ns}:premiumProducts")
    if bool(settings.api_domain) != bool(settings.api_certificate_arn):
        r.errors.append(f"{ns}:apiDomain and {ns}:apiCertificateArn go together: set both or neither")
    if settings.api_domain and not settings.cloudfront:
        r.errors.append(f"{ns}:apiDomain needs {ns}:cloudFront: the custom domain is a CloudFront alias")
    if bool(settings.api_domain) != bool(settings.api_origin_certificate_arn):
        r.errors.append(
            f"{ns}:apiOriginCertificateArn goes with {ns}:apiDomain: the domain's certificate in "
            f"{region or 'aws:region'}, for the API's regional custom domain (CloudFront's origin)"
        )
    elif (
        settings.api_origin_certificate_arn
        and region
        and (certificate := _REGIONAL_CERTIFICATE.match(settings.api_origin_certificate_arn))
        and certificate["region"] != region
    ):
        r.errors.append(f"{ns}:apiOriginCertificateArn: must be in aws:region {region}")
    r.errors.extend(concurrency.problems(settings, CATALOG))
    if r.errors:
        raise ConfigError(f"stack {stack!r} has invalid configuration:\n  " + "\n  ".join(r.errors))
    return settings


_PRICE = re.compile(r"^(0|[1-9][0-9]{0,8})(\.[0-9]{1,3})?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
# The billing periods the stores sell subscriptions for, as ISO 8601 durations (Apple's and
# Google's subscription periods), in months a payment covers.
PERIODS = {"P1M": 1, "P2M": 2, "P3M": 3, "P6M": 6, "P1Y": 12}


def _list_prices(r: _Reader, key: str) -> tuple[tuple[str, int, str, int], ...]:
    """{product id: {price: "9.99", currency: EUR, period: P1M}} -> ((product id, 9990, "EUR", 1), ...)."""
    value = r.structured(key, required=False)
    if value is None:
        return ()
    if not isinstance(value, dict) or not value:
        r.errors.append(f'{key}: must be a mapping of product id to {{price: "9.99", currency: EUR, period: P1M}}')
        return ()
    prices = []
    for product, entry in value.items():
        price, currency, period = (
            (entry.get("price"), entry.get("currency"), entry.get("period")) if isinstance(entry, dict) else (None,) * 3
        )
        if not _PRODUCT_ID.match(product):
            r.errors.append(f"{key}: {product!r} is not a store product id")
        elif (
            not isinstance(price, str)
            or not _PRICE.match(price)
            or not isinstance(currency, str)
            or not _CURRENCY.match(currency)
        ):
            r.errors.append(
                f'{key}: {product}: must be {{price: "<decimal, at most 3 places>", currency: <ISO 4217 code>, '
                f"period: {'|'.join(PERIODS)}}}"
            )
        elif period not in PERIODS:
            # Without it a yearly payment would count as a month's revenue (mrr_monthly).
            r.errors.append(f"{key}: {product}: period {period!r} is not one of {', '.join(PERIODS)}")
        else:
            whole, _, fraction = price.partition(".")
            prices.append((product, int(whole) * 1000 + int(fraction.ljust(3, "0") or 0), currency, PERIODS[period]))
    return tuple(sorted(prices))


def _quotas(r: _Reader, key: str) -> str:
    """serenya:quotas, whole (every plan, kind and window) or absent (the defaults)."""
    value = r.structured(key, required=False)
    if value is None:
        return json.dumps(quotas_module.DEFAULT_LIMITS, sort_keys=True)
    found = quotas_module.problems(value)
    r.errors.extend(f"{key}: {p}" for p in found)
    return json.dumps(value if not found else quotas_module.DEFAULT_LIMITS, sort_keys=True)


def _api_throttle(r: _Reader, key: str) -> ApiThrottle:
    value = r.structured(key)
    if value is None:
        return ApiThrottle(0, 0)
    rate, burst = (value.get("rateLimit"), value.get("burstLimit")) if isinstance(value, dict) else (None, None)
    if not isinstance(rate, (int, float)) or not isinstance(burst, int) or rate <= 0 or burst <= 0:
        r.errors.append(f"{key}: must be {{rateLimit: <positive number>, burstLimit: <positive integer>}}")
        return ApiThrottle(0, 0)
    if burst < rate:
        r.errors.append(f"{key}: burstLimit {burst} is below rateLimit {rate}")
    return ApiThrottle(float(rate), burst)


def _check_layer(r: _Reader, key: str, arn: str, region: str) -> None:
    parts = _POWERTOOLS_LAYER.match(arn)
    if parts is None:  # `r.string` has reported it already
        return
    expected_runtime = LAMBDA_RUNTIME.replace(".", "")
    if parts["region"] != region:
        r.errors.append(f"{key}: layer region {parts['region']} differs from aws:region {region}")
    if parts["runtime"] != expected_runtime or parts["arch"] != LAMBDA_ARCHITECTURE:
        r.errors.append(
            f"{key}: layer is for {parts['runtime']}/{parts['arch']}, functions run "
            f"{expected_runtime}/{LAMBDA_ARCHITECTURE}"
        )


def stack_config(stack: str) -> dict[str, str]:
    """Pulumi.<stack>.yaml as Pulumi passes it to a program: structured values as JSON.
    What the runbooks, the preflight checks, the tests and the local stack read a stack's
    settings from when no Pulumi engine runs (`load_settings(stack_config(s).get, s)`)."""
    import yaml  # only off the engine: `pulumi up` reads the file itself

    raw = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in raw.items()}


def from_pulumi() -> Settings:
    """Reads the current stack's settings through pulumi.Config (the program's entry point).

    No key is a secret by design (the third-party credentials live in Secrets Manager,
    docs/configuration.md), but a value set with `pulumi config set --secret` is accepted:
    the key is remembered in `Settings.secret_keys`, and what the program builds from the
    settings into function environments is then stored as a secret in state
    (components/processing.py). Validation needs the plain value, which `get` returns."""
    import pulumi
    from pulumi.runtime.config import is_config_secret

    configs: dict[str, pulumi.Config] = {}
    secret: set[str] = set()

    def get(full_key: str) -> str | None:
        namespace, name = full_key.split(":", 1)
        config = configs.setdefault(namespace, pulumi.Config(namespace))
        if is_config_secret(full_key):
            secret.add(full_key)
        return config.get(name)

    settings = load_settings(get, pulumi.get_stack())
    return dataclasses.replace(settings, secret_keys=frozenset(secret)) if secret else settings
