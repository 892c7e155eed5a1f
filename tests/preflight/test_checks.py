"""Each preflight check against answers in the services' real formats: botocore's Stubber
(responses validated against the service models) for what moto does not implement
(Lambda account settings and layers, Bedrock model access), moto for the rest."""

import base64
import hashlib
import json

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from components import account, concurrency
from components.config import load_settings, stack_config
from functions.catalog import CATALOG
from preflight import checks
from preflight.checks import Target
from preflight import report
from preflight.__main__ import main
from preflight.report import FAIL, OK, SKIP, WARN, Finding, outcome, render
from tests.fixtures.real_samples import real_json

PROFILE = "eu.anthropic.claude-haiku-4-5-20251001-v1:0"
MODEL = "anthropic.claude-haiku-4-5-20251001-v1:0"
LAYER_DESCRIPTION = "Powertools for AWS Lambda (Python) V3 [arm64 - Python 3.13] with extra dependencies version 3.37.0"


def settings(stack="dev", **overrides):
    config = {**stack_config(stack), **overrides}
    return load_settings(lambda key: config.get(key), stack)


def stubbed(service, *answers):
    """A real client whose calls answer `answers` in order: (operation, response) or
    (operation, error code)."""
    client = boto3.client(service, region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    for operation, answer in answers:
        if isinstance(answer, str):
            stubber.add_client_error(operation, service_error_code=answer, http_status_code=400)
        else:
            stubber.add_response(operation, answer)
    stubber.activate()
    return client


def target(stack="dev", clients=None, **overrides):
    clients = clients or {}
    return Target(settings=settings(stack, **overrides), client=lambda service: clients[service],
                  powertools_version="3.37.0")


# -- Lambda ---------------------------------------------------------------------------

def account_settings(quota, unreserved):
    return {"AccountLimit": {"TotalCodeSize": 80530636800, "CodeSizeUnzipped": 262144000, "CodeSizeZipped": 52428800,
                             "ConcurrentExecutions": quota, "UnreservedConcurrentExecutions": unreserved},
            "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0}}


def test_concurrency_fits_a_default_account():
    found = checks.account_concurrency(target("prod", {"lambda": stubbed(
        "lambda", ("get_account_settings", account_settings(1000, 1000)))}))
    assert found.status == OK and f"the stack takes {concurrency.taken(settings('prod'), CATALOG)}" in found.detail


def test_a_new_accounts_quota_of_ten_fails():
    found = checks.account_concurrency(target("dev", {"lambda": stubbed(
        "lambda", ("get_account_settings", account_settings(10, 10)))}))
    assert found.status == FAIL and "quota is 10" in found.detail and "Service Quotas" in found.fix


def test_other_reservations_in_the_account_warn():
    found = checks.account_concurrency(target("prod", {"lambda": stubbed(
        "lambda", ("get_account_settings", account_settings(1000, 150)))}))
    assert found.status == WARN


def test_a_setting_above_the_real_quota_fails_so_previews_stay_honest():
    found = checks.account_concurrency(target("dev", {"lambda": stubbed(
        "lambda", ("get_account_settings", account_settings(500, 500)))}))
    assert found.status == FAIL and "serenya:accountConcurrency: 500" in found.fix


def layer(description=LAYER_DESCRIPTION, runtimes=("python3.13",), architectures=("arm64",)):
    arn = "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64"
    return {"Content": {"CodeSize": 5_000_000}, "LayerArn": arn, "LayerVersionArn": f"{arn}:27",
            "Description": description, "Version": 27, "CompatibleRuntimes": list(runtimes),
            "CompatibleArchitectures": list(architectures)}


@pytest.mark.parametrize("answer, status", [
    (layer(), OK),
    (layer(LAYER_DESCRIPTION.replace("3.37.0", "3.38.1")), WARN),
    (layer(architectures=("x86_64",)), FAIL),
    ("ResourceNotFoundException", FAIL),
])
def test_powertools_layer(answer, status):
    found = checks.powertools_layer(target("dev", {"lambda": stubbed("lambda", ("get_layer_version_by_arn", answer))}))
    assert found.status == status, found


# -- Bedrock --------------------------------------------------------------------------

def profile(status="ACTIVE"):
    return {"inferenceProfileName": "EU Claude Haiku 4.5", "inferenceProfileArn":
            f"arn:aws:bedrock:eu-west-1:123456789012:inference-profile/{PROFILE}", "inferenceProfileId": PROFILE,
            "status": status, "type": "SYSTEM_DEFINED",
            "models": [{"modelArn": f"arn:aws:bedrock:{r}::foundation-model/{MODEL}"}
                       for r in ("eu-west-1", "eu-central-1", "eu-north-1")]}


def availability(agreement="AVAILABLE", entitlement="AVAILABLE", region="AVAILABLE", authorized="AUTHORIZED"):
    return {"modelId": MODEL, "agreementAvailability": {"status": agreement},
            "authorizationStatus": authorized, "entitlementAvailability": entitlement, "regionAvailability": region}


USE_CASE = ("get_use_case_for_model_access", {"formData": base64.b64encode(b'{"companyName": "Serenya"}')})


@pytest.mark.parametrize("answers, status, says", [
    ([("get_inference_profile", profile()), ("get_foundation_model_availability", availability()), USE_CASE],
     OK, "can be called"),
    ([("get_inference_profile", profile()), ("get_foundation_model_availability", availability()),
      ("get_use_case_for_model_access", "ResourceNotFoundException")], FAIL, "use case form"),
    ([("get_inference_profile", profile()),
      ("get_foundation_model_availability", availability(agreement="NOT_AVAILABLE", entitlement="NOT_AVAILABLE")),
      USE_CASE], FAIL, "no Marketplace subscription"),
    ([("get_inference_profile", profile()), ("get_foundation_model_availability", availability(agreement="PENDING")),
      USE_CASE], WARN, "pending"),
    ([("get_inference_profile", "ResourceNotFoundException")], FAIL, "not an inference profile"),
    ([("get_inference_profile", profile("INACTIVE"))], FAIL, "INACTIVE"),
])
def test_bedrock_model_access(answers, status, says):
    found = checks.bedrock_model(target("dev", {"bedrock": stubbed("bedrock", *answers)}))
    assert found.status == status and says in found.detail + found.fix, found
    if status == FAIL and "profile" not in found.fix:
        assert "playground" in found.fix and checks.MODEL_ACCESS_DOC in found.fix


# -- secret, pin, logging, alerts -----------------------------------------------------

GOOD_SECRET = {"google_play_service_account": {"client_email": "play@x.iam.gserviceaccount.com",
                                               "private_key": "-----BEGIN PRIVATE KEY-----\n...",
                                               "token_uri": "https://oauth2.googleapis.com/token"}}


@pytest.fixture
def moto_clients(monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield lambda service: boto3.client(service, region_name="eu-west-1")


def secret_target(moto_clients):
    return Target(settings=settings("dev"), client=moto_clients)


def test_secret_not_created_yet_warns(moto_clients):
    assert checks.third_party_secret(secret_target(moto_clients)).status == WARN


@pytest.mark.parametrize("value, status", [(None, FAIL), ("not json", FAIL), (json.dumps({"other": 1}), FAIL),
                                           (json.dumps(GOOD_SECRET), OK)])
def test_secret_value(moto_clients, value, status):
    secrets = moto_clients("secretsmanager")
    secrets.create_secret(Name="serenya/dev/third-party", **({"SecretString": value} if value else {}))
    found = checks.third_party_secret(secret_target(moto_clients))
    assert found.status == status, found
    assert "BEGIN PRIVATE KEY" not in found.detail + found.fix


def test_the_pinned_constant_is_the_root_of_a_real_app_store_chain():
    chain = real_json("apple/real_apple_chain.json")["x5c"]
    assert hashlib.sha256(base64.b64decode(chain[-1])).hexdigest() == checks.APPLE_ROOT_CA_G3_SHA256
    assert checks.apple_root_pin(target("prod")).status == OK
    wrong = checks.apple_root_pin(target("prod", **{"serenya:appleRootSha256": "0" * 64}))
    assert wrong.status == FAIL and checks.APPLE_ROOT_CA_G3_SHA256 in wrong.fix


def set_logging_role(moto_clients, role: str, create: bool) -> None:
    """The region's API Gateway account setting naming `role` (created in IAM or not)."""
    if create:
        moto_clients("iam").create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "apigateway.amazonaws.com"}}]}))
    moto_clients("apigateway").update_account(patchOperations=[
        {"op": "replace", "path": "/cloudwatchRoleArn", "value": f"arn:aws:iam::123456789012:role/{role}"}])


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_missing_account_stack_fails_with_the_commands_that_deploy_it(moto_clients, stack):
    """API Gateway logs through the role named by the account setting's cloudwatchRoleArn
    ("set the IAM role ARN on the cloudWatchRoleArn property on your Account"); without it
    a stage with access logging cannot be created:
    https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html#set-up-access-logging-permissions"""
    found = checks.api_gateway_logging(Target(settings(stack), moto_clients))
    assert found.status == FAIL and "account stack is not deployed" in found.detail
    assert found.fix.endswith(account.deploy_commands("eu-west-1"))
    assert "cd account && pulumi stack init eu-west-1" in found.fix


def test_a_setting_naming_a_deleted_role_fails_with_the_commands_that_restore_it(moto_clients):
    """A role deleted after the setting named it (IAM does not tell API Gateway): AWS checks
    the role only when the setting changes. moto accepts an ARN without the role, which
    sets that state up directly."""
    set_logging_role(moto_clients, account.logging_role_name("eu-west-1"), create=False)
    found = checks.api_gateway_logging(Target(settings("dev"), moto_clients))
    assert found.status == FAIL and "serenya-apigateway-logs-eu-west-1, which does not exist" in found.detail
    assert account.deploy_commands("eu-west-1", new=False) in found.fix


def test_the_account_stacks_role_in_place_passes(moto_clients):
    set_logging_role(moto_clients, account.logging_role_name("eu-west-1"), create=True)
    found = checks.api_gateway_logging(Target(settings("dev"), moto_clients))
    assert found.status == OK and "serenya-apigateway-logs-eu-west-1" in found.detail


def test_a_logging_check_that_may_not_ask_warns():
    found = checks.api_gateway_logging(target("dev", {"apigateway": stubbed(
        "apigateway", ("get_account", "AccessDeniedException"))}))
    assert found.status == SKIP and "AccessDeniedException" in found.detail


def subscriptions(arn):
    return {"Subscriptions": [{"SubscriptionArn": arn, "Owner": "123456789012", "Protocol": "email",
                               "Endpoint": "alerts@serenya.health", "TopicArn": "arn:aws:sns:eu-west-1:1:t"}]}


IDENTITY = ("get_caller_identity", {"UserId": "AIDA", "Account": "123456789012", "Arn": "arn:aws:iam::1:user/me"})


@pytest.mark.parametrize("critical, status", [("PendingConfirmation", WARN),
                                              ("arn:aws:sns:eu-west-1:123456789012:serenya-prod-critical:1", OK)])
def test_alert_email_confirmation(critical, status):
    confirmed = "arn:aws:sns:eu-west-1:123456789012:serenya-prod-warning:2"
    sns = stubbed("sns", ("list_subscriptions_by_topic", subscriptions(critical)),
                  ("list_subscriptions_by_topic", subscriptions(confirmed)))
    found = checks.alert_email(target("prod", {"sts": stubbed("sts", IDENTITY), "sns": sns}))
    assert found.status == status, found


def test_alert_email_before_the_first_deployment(moto_clients):
    assert checks.alert_email(Target(settings("prod"), moto_clients)).status == OK
    assert checks.alert_email(target("dev")).status == OK  # dev has no alert email


def test_a_check_that_cannot_ask_is_skipped_instead_of_crashing():
    found = checks.account_concurrency(target("dev", {"lambda": stubbed(
        "lambda", ("get_account_settings", "AccessDeniedException"))}))
    assert found.status == SKIP and "AccessDeniedException" in found.detail


def test_report_prints_a_line_per_check_and_fixes_for_findings():
    text = render([checks.Finding("a-check", OK, "fine"), checks.Finding("other", FAIL, "broken", "do this")])
    lines = text.splitlines()
    assert lines[0].startswith("ok    a-check") and lines[1].startswith("fail  other") and "fix: do this" in lines[2]


# -- what a run amounts to --------------------------------------------------------------

def test_a_run_without_credentials_says_it_checked_nothing_and_exits_3(monkeypatch, capsys, tmp_path):
    """No credentials anywhere (environment, files, instance metadata): every call fails
    before it is sent; the offline checks still answer, and none of it is called ok."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_ENDPOINT_URL", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code = main(["--stack", "dev"])
    lines = capsys.readouterr().out.splitlines()
    assert code == report.EXIT_NOTHING_CHECKED == 3
    assert lines[-1].startswith("preflight: CHECKED NOTHING: no AWS credentials found")
    statuses = {line.split()[1]: line.split()[0] for line in lines[1:-1] if not line.startswith(" ")}
    assert statuses["apple-root-pin"] == OK and statuses["lambda-concurrency"] == SKIP
    assert [s for s in statuses.values() if s not in (OK, SKIP)] == []


def test_an_account_that_answers_nothing_exits_3_not_0(capsys):
    """Credentials, but an endpoint that answers no call (here: nothing listens)."""
    from botocore.config import Config

    def unreachable(service):
        return boto3.client(service, endpoint_url="http://127.0.0.1:9", region_name="eu-west-1",
                            aws_access_key_id="x", aws_secret_access_key="x",
                            config=Config(connect_timeout=1, retries={"max_attempts": 1}))

    code = main(["--stack", "dev"], client=unreachable)
    out = capsys.readouterr().out
    assert code == 3 and "EndpointConnectionError" in out
    assert out.splitlines()[-1].startswith("preflight: CHECKED NOTHING: the account answered none")


@pytest.mark.parametrize("statuses, code, says", [
    ([OK, OK, WARN], 0, "ok: 3 checks, 1 with a warning"),
    ([OK, SKIP, OK], 0, "1 of 3 checks were not checked (c1)"),
    ([SKIP, SKIP, SKIP], 3, "CHECKED NOTHING"),
    ([FAIL, SKIP, OK], 1, "1 of 3 checks failed; 1 not checked"),
])
def test_the_headline_and_exit_code_of_a_run(statuses, code, says):
    findings = [Finding(f"c{i}", status, "d") for i, status in enumerate(statuses)]
    headline, exit_code = outcome(findings)
    assert exit_code == code and says in headline, headline


def test_offline_checks_alone_do_not_make_a_run_ok():
    """The Apple pin and a stack without an alert email need no account: with every other
    check skipped, the run still checked nothing."""
    findings = [Finding("pin", OK, "d", offline=True), Finding("a", SKIP, "d"), Finding("b", SKIP, "d")]
    assert outcome(findings)[1] == 3
    assert outcome([*findings, Finding("c", OK, "d")])[1] == 0
    headline, code = outcome([Finding("pin", FAIL, "d", offline=True), *findings[1:]], credentials=False)
    assert code == 1 and "the account itself was not checked: no AWS credentials found" in headline  # fails first
    assert checks.apple_root_pin(target("prod")).offline and checks.alert_email(target("dev")).offline
