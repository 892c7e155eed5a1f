import pytest
import yaml

from components.config import ROOT, RETIRED_KEYS, ConfigError, LOG_RETENTION_DAYS, load_settings, stack_config


def settings_with(stack="dev", **overrides):
    config = {**stack_config(stack), **overrides}
    return load_settings(lambda key: config.get(key), stack)


def error_of(**overrides) -> str:
    with pytest.raises(ConfigError) as e:
        settings_with(**overrides)
    return str(e.value)


def test_dev_and_prod_differ_as_designed():
    dev, prod = settings_with("dev"), settings_with("prod")
    assert dev.region == prod.region == "eu-west-1"
    assert dev.allowed_origins == ("http://localhost:3000",)
    assert prod.allowed_origins == ("https://app.serenya.health",)
    assert (dev.log_retention_days, prod.log_retention_days) == (7, 365)
    assert dev.detailed_logging and not prod.detailed_logging
    assert dev.alert_email is None and prod.alert_email == "alerts@serenya.health"
    assert not dev.point_in_time_recovery and prod.point_in_time_recovery
    assert not dev.deletion_protection and prod.deletion_protection
    assert (dev.reserved_for("process"), prod.reserved_for("process")) == (10, 50)
    assert dev.reserved_for("auth") is None and prod.reserved_for("auth") is None
    assert (dev.provisioned_concurrency, prod.provisioned_concurrency) == (0, 1)
    assert prod.api_throttle.rate_limit > dev.api_throttle.rate_limit
    assert "haiku" in dev.bedrock_model_id and not dev.bedrock_model_id.startswith("anthropic.claude-3-haiku")
    assert dev.google_client_ids and dev.apple_client_ids and dev.powertools_layer_arn
    assert dev.name("temp") == "serenya-dev-temp" and prod.name() == "serenya-prod"


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        settings_with().region = "us-east-1"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_key_in_a_stack_file_is_read(stack):
    """A misspelt key would silently fall back to a default: every key must be known."""
    read: set[str] = set()
    config = stack_config(stack)
    load_settings(lambda key: read.add(key) or config.get(key), stack)
    written = set(yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"])
    assert written - read == set()


def test_missing_keys_are_each_named():
    message = error_of(**{"serenya:logRetentionDays": None, "serenya:allowedOrigins": None})
    assert "serenya:logRetentionDays: missing" in message
    assert "serenya:allowedOrigins: missing" in message


@pytest.mark.parametrize("key, value, expected", [
    ("aws:region", "Ireland", "not an AWS region"),
    ("serenya:allowedOrigins", '["app.serenya.health"]', "not an origin"),
    ("serenya:allowedOrigins", '"https://app.serenya.health"', "non-empty list"),
    ("serenya:allowedOrigins", "[", "not a list or object"),
    ("serenya:logRetentionDays", "10", "not a CloudWatch Logs retention period"),
    ("serenya:logRetentionDays", "a week", "not an integer"),
    ("serenya:detailedLogging", "yes", "not true or false"),
    ("serenya:alertEmail", "alerts", "not an email address"),
    ("serenya:reservedConcurrency", '{"process": 0}', "not an integer in 1..900"),
    ("serenya:reservedConcurrency", '{"procss": 5}', "not a function of the catalog"),
    ("serenya:reservedConcurrency", "50", "must be a mapping"),
    ("serenya:accountConcurrency", "lots", "not an integer"),
    ("serenya:cloudFront", "maybe", "not true or false"),
    ("serenya:apiThrottle", '{"rateLimit": 100}', "burstLimit"),
    ("serenya:apiThrottle", '{"rateLimit": 100, "burstLimit": 10}', "below rateLimit"),
    ("serenya:googleClientIds", '["my-client"]', "not a Google OAuth client id"),
    ("serenya:bedrockModelId", "claude please", "not a Bedrock model"),
    # An application inference profile's models cannot be named offline (the roles need them).
    ("serenya:bedrockModelId", "arn:aws:bedrock:eu-west-1:111122223333:application-inference-profile/abc",
     "not a Bedrock model"),
    # Profiles that route outside the stack's geography (eu-west-1 here): data would leave it.
    ("serenya:bedrockModelId", "global.anthropic.claude-haiku-4-5-20251001-v1:0", "outside eu-west-1's geography"),
    ("serenya:bedrockModelId", "us.anthropic.claude-haiku-4-5-20251001-v1:0", "outside eu-west-1's geography"),
    ("serenya:powertoolsLayerArn", "arn:aws:lambda:eu-west-1:123:layer:mine:1", "not a Powertools"),
    ("serenya:powertoolsLayerArn",
     "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:27",
     "functions run python313/arm64"),
    ("serenya:powertoolsLayerArn",
     "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:27",
     "differs from aws:region"),
    ("serenya:listPrices", '[]', "must be a mapping"),
    ("serenya:listPrices", '{"health.serenya.premium.monthly": {"price": 9.99, "currency": "EUR", "period": "P1M"}}',
     "health.serenya.premium.monthly: must be {price"),
    ("serenya:listPrices",
     '{"health.serenya.premium.monthly": {"price": "9.9999", "currency": "EUR", "period": "P1M"}}',
     "at most 3 places"),
    ("serenya:listPrices", '{"health.serenya.premium.monthly": {"price": "9.99", "currency": "euro", "period": "P1M"}}',
     "ISO 4217"),
    ("serenya:listPrices", '{"health.serenya.premium.yearly": {"price": "89.99", "currency": "EUR"}}',
     "period None is not one of P1M"),
    ("serenya:listPrices", '{"health.serenya.premium.yearly": {"price": "89.99", "currency": "EUR", "period": "1Y"}}',
     "period '1Y' is not one of P1M"),
    ("serenya:listPrices", '{"health.serenya.other": {"price": "1", "currency": "EUR", "period": "P1M"}}',
     "health.serenya.other not in serenya:premiumProducts"),
])
def test_wrong_values_name_their_key(key, value, expected):
    """Bedrock: https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-support.html
    (a geography's profile routes within its regions; global profiles to any commercial region)."""
    message = error_of(**{key: value})
    line = next(l for l in message.splitlines() if l.strip().startswith(key))
    assert expected in line


@pytest.mark.parametrize("price, milli", [("9.99", 9990), ("10", 10000), ("0.5", 500), ("89.999", 89999)])
def test_list_prices_are_read_in_milli_units_as_apple_sends_prices(price, milli):
    settings = settings_with(**{"serenya:listPrices": f'{{"health.serenya.premium.yearly": '
                                                      f'{{"price": "{price}", "currency": "USD", "period": "P1Y"}}}}'})
    assert settings.stores.list_prices == (("health.serenya.premium.yearly", milli, "USD", 12),)
    assert settings_with(**{"serenya:listPrices": None}).stores.list_prices == ()  # optional


def test_all_problems_are_reported_at_once():
    message = error_of(**{"aws:region": "x", "serenya:detailedLogging": "maybe"})
    assert "aws:region" in message and "serenya:detailedLogging" in message


def test_bedrock_model_defaults_to_the_regions_haiku_profile():
    settings = settings_with(**{"serenya:bedrockModelId": None})
    assert settings.bedrock_model_id.startswith("eu.anthropic.claude-haiku")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_deployed_stack_may_name_the_offline_analyser(stack):
    """The stand-in is in no Lambda archive: a stack naming it is refused at preview,
    saying why, rather than deploying a process function that analyses nothing."""
    with pytest.raises(ConfigError) as e:
        settings_with(stack, **{"serenya:aiProvider": "offline"})
    assert "serenya:aiProvider: offline is the local stack's stand-in" in str(e.value)
    assert "serenya:aiProvider: 'other' is not bedrock" in error_of(**{"serenya:aiProvider": "other"})
    for value in ("bedrock", None):
        settings_with(stack, **{"serenya:aiProvider": value})


def test_retention_values_are_cloudwatch_values():
    assert 7 in LOG_RETENTION_DAYS and 365 in LOG_RETENTION_DAYS and 10 not in LOG_RETENTION_DAYS


def test_every_key_is_documented():
    read: set[str] = set()
    config = stack_config("prod")
    load_settings(lambda key: read.add(key) or config.get(key), "prod")
    page = (ROOT / "docs" / "configuration.md").read_text()
    assert {key for key in read - set(RETIRED_KEYS) if f"`{key}`" not in page} == set()


@pytest.mark.parametrize("value", ["true", "false"])
def test_the_retired_api_gateway_account_key_is_refused_pointing_to_the_account_stack(value):
    """The program reads only the keys it knows: without this, a stack file still saying
    `serenya:manageApiGatewayAccount: true` would deploy as if it owned the region's
    logging role, and nobody would know it no longer does."""
    message = error_of(**{"serenya:manageApiGatewayAccount": value})
    assert "serenya:manageApiGatewayAccount: retired" in message
    assert "account stack (account/" in message


def test_custom_domain_and_certificate_go_together():
    assert "go together" in error_of(**{"serenya:apiDomain": "api.serenya.health"})
    assert "ACM certificate ARN in us-east-1" in error_of(**{
        "serenya:apiDomain": "api.serenya.health",
        "serenya:apiCertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/"
                                     "0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f"})


def test_the_secrets_expected_keys_are_documented():
    from functions.subscriptions.credentials import EXPECTED_KEYS

    page = (ROOT / "docs" / "configuration.md").read_text()
    assert [key for key in EXPECTED_KEYS if f"`{key}`" not in page] == []


@pytest.mark.parametrize("stack, why", [
    ("Prod", "lowercase letters, digits and hyphens"),
    ("my_stack", "lowercase letters, digits and hyphens"),
    ("-dev", "starting and ending"),
    ("staging-eu-west-1-blue-green", "too long"),
])
def test_a_stack_name_that_cannot_name_the_resources_is_refused(stack, why):
    with pytest.raises(ConfigError) as e:
        load_settings({**stack_config("dev"), "serenya:logRetentionDays": "10"}.get, stack)
    text = str(e.value)
    assert why in text and f"stack name {stack!r}" in text
    assert "serenya:logRetentionDays" in text  # every problem at once


def test_the_longest_stack_name_fits_every_limit_and_one_more_character_does_not():
    """Buckets: serenya-<stack>-athena-results-<account id> <= 63 characters; functions and
    roles serenya-<stack>-stream_processor <= 64; queues <= 80."""
    from components.config import stack_name_problems

    longest = next(n for n in range(40, 0, -1) if not stack_name_problems("a" * n))
    assert len(f"serenya-{'a' * longest}-athena-results-123456789012") == 63
    assert "1 character(s) too long" in stack_name_problems("a" * (longest + 1))[0]
    assert "bucket names up to 64 characters (limit 63)" in stack_name_problems("a" * (longest + 1))[0]


def test_every_bucket_purpose_is_counted_in_the_name_check(stack_run):
    from components.config import BUCKET_PURPOSES

    env, account = stack_run.settings.env, stack_run.mocks.account_id
    for bucket in stack_run.mocks.of_type("aws:s3/bucket:Bucket"):
        purpose = bucket.inputs["bucket"].removeprefix(f"serenya-{env}-").removesuffix(f"-{account}")
        assert purpose in BUCKET_PURPOSES


def test_a_value_set_as_a_secret_is_read_and_stays_secret_in_state():
    """No key is a secret by design, but `pulumi config set --secret` works on any: the
    value validates as usual and the function environments built from it are secrets."""
    import pulumi

    from components.config import from_pulumi
    from local.program import RecordingMocks, install, run_program

    config = stack_config("dev")
    install(RecordingMocks(), "dev")
    pulumi.runtime.set_all_config(config, secret_keys=["serenya:googlePubsubServiceAccount"])
    settings = from_pulumi()
    assert settings.secret_keys == {"serenya:googlePubsubServiceAccount"}
    assert settings.stores.google_pubsub_service_account == config["serenya:googlePubsubServiceAccount"]
    assert from_pulumi_plain(config).secret_keys == frozenset()

    import dataclasses
    from components import processing
    seen = []
    real = pulumi.Output.secret
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(processing.pulumi.Output, "secret", staticmethod(lambda v: seen.append(v) or real(v)))
        mp.setattr("local.program.load_settings", lambda get, stack: dataclasses.replace(settings))
        run_program("dev")
    from functions.catalog import CATALOG
    assert len(seen) == len(CATALOG) and all("SERENYA_ENV" in env for env in seen)


def from_pulumi_plain(config):
    import pulumi

    from components.config import from_pulumi

    pulumi.runtime.set_all_config(config, secret_keys=[])
    return from_pulumi()


def test_a_custom_domain_needs_its_regional_certificate_in_the_stacks_region():
    domain = {"serenya:apiDomain": "api.serenya.health",
              "serenya:apiCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/"
                                           "0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f"}
    assert "serenya:apiOriginCertificateArn goes with serenya:apiDomain" in error_of(**domain)
    assert "must be in aws:region eu-west-1" in error_of(**domain, **{
        "serenya:apiOriginCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/"
                                           "0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f"})
    settings = settings_with(**domain, **{"serenya:apiOriginCertificateArn": "arn:aws:acm:eu-west-1:123456789012:"
                                          "certificate/0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f"})
    assert settings.execute_api_disabled
    assert not settings_with().execute_api_disabled


@pytest.mark.parametrize("url", ["http://example.com/runbooks.md", "https://example.com/runbooks.md#top", "docs/x"])
def test_a_runbook_base_url_must_be_an_https_page_without_a_fragment(url):
    assert "serenya:runbookBaseUrl" in error_of(**{"serenya:runbookBaseUrl": url})


def test_new_jobs_paused_is_an_optional_boolean_off_in_both_stack_files():
    assert not settings_with("dev").new_jobs_paused and not settings_with("prod").new_jobs_paused
    assert settings_with("prod", **{"serenya:newJobsPaused": "true"}).new_jobs_paused
    assert not settings_with("prod", **{"serenya:newJobsPaused": None}).new_jobs_paused  # optional
    assert "serenya:newJobsPaused: 'paused' is not true or false" in error_of(**{"serenya:newJobsPaused": "paused"})


def test_the_canary_rate_is_set_per_stack_and_validated_as_an_eventbridge_rate():
    from functions.catalog import by_name

    canary = by_name()["canary"]
    assert settings_with("prod").schedule_expression(canary) == "rate(10 minutes)"
    assert settings_with("dev").schedule_expression(canary) == "rate(30 minutes)"
    assert settings_with("dev").schedule_period_s(canary) == 1800
    # Optional: without the key the catalog's expression runs.
    assert settings_with("dev", **{"serenya:canaryRate": None}).schedule_expression(canary) == canary.trigger.expression
    assert settings_with("dev", **{"serenya:canaryRate": "rate(1 hour)"}).schedule_period_s(canary) == 3600
    for bad in ("rate(1 minutes)", "rate(5 minute)", "cron(0 * * * ? *)", "rate(0 minutes)", "10 minutes"):
        assert "serenya:canaryRate" in error_of(**{"serenya:canaryRate": bad}), bad
    # More than an hour between runs, or its two-run alarm, would notice nothing first.
    assert "outside 1 minute to 60 minutes" in error_of(**{"serenya:canaryRate": "rate(2 hours)"})
