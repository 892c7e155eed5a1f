"""The checks: one function per question, each answering a Finding, never raising for
what the account says (an unreachable or unimplemented call is a warning, not a crash)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

from components import account, concurrency
from components.config import LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME, Settings
from functions.catalog import CATALOG, Function
from functions.subscriptions import credentials
from preflight.report import FAIL, OK, SKIP, WARN, Finding

# SHA-256 of Apple Root CA - G3 (DER), https://www.apple.com/certificateauthority/ ;
# tests/preflight checks it against the root of a real App Store chain.
APPLE_ROOT_CA_G3_SHA256 = "63343abfb89a6a03ebb57e9b3f5fa7be7c4f5c756f3017b3a8c488c3653e9179"
MODEL_ACCESS_DOC = "https://docs.aws.amazon.com/bedrock/latest/userguide/model-access.html"
_PROFILE_PREFIXES = ("us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.")
_POWERTOOLS_VERSION = re.compile(r"version (\d+\.\d+\.\d+)")

Clients = Callable[[str], Any]


@dataclass(frozen=True)
class Target:
    settings: Settings
    client: Clients                          # service name -> boto3 client
    catalog: tuple[Function, ...] = CATALOG
    powertools_version: str = ""             # the version the tests ran with


def _error(e: Exception) -> str:
    if isinstance(e, ClientError):
        return e.response.get("Error", {}).get("Code") or str(e.response.get("ResponseMetadata", {}).get(
            "HTTPStatusCode", "error"))
    return type(e).__name__


def _unanswered(check: str, call: str, e: Exception) -> Finding:
    how = "answered" if isinstance(e, ClientError) else "could not be asked:"
    return Finding(check, SKIP, f"not checked: {call} {how} {_error(e)}",
                   "run again with credentials that may call it (read-only); an endpoint that does not "
                   "implement it (the local stack's moto) cannot answer: check by hand")


# -- Lambda ---------------------------------------------------------------------------

def account_concurrency(t: Target) -> Finding:
    check = "lambda-concurrency"
    need = concurrency.taken(t.settings, t.catalog)
    try:
        limits = t.client("lambda").get_account_settings()["AccountLimit"]
    except (ClientError, BotoCoreError) as e:
        return _unanswered(check, "lambda:GetAccountSettings", e)
    quota, unreserved = limits["ConcurrentExecutions"], limits["UnreservedConcurrentExecutions"]
    detail = f"the stack takes {need}; the account's quota is {quota}, {unreserved} unreserved"
    if need > concurrency.available(quota):
        return Finding(check, FAIL, detail,
                       f"Lambda keeps {concurrency.UNRESERVED_MINIMUM} unreserved: lower serenya:reservedConcurrency "
                       "/ serenya:provisionedConcurrency, or ask Service Quotas for more 'Concurrent executions'")
    if t.settings.account_concurrency > quota:
        return Finding(check, FAIL, f"{detail}; serenya:accountConcurrency says {t.settings.account_concurrency}",
                       f"set serenya:accountConcurrency: {quota} so previews check the real quota")
    if need > concurrency.available(unreserved):
        return Finding(check, WARN, f"{detail}: other reservations in the account (another stack?) leave too little "
                                    "unless they are this stack's own",
                       "compare with the reservations of the account's functions (aws lambda list-functions)")
    return Finding(check, OK, detail)


def powertools_layer(t: Target) -> Finding:
    check = "powertools-layer"
    arn = t.settings.powertools_layer_arn
    try:
        layer = t.client("lambda").get_layer_version_by_arn(Arn=arn)
    except ClientError as e:
        if _error(e) in ("ResourceNotFoundException", "AccessDeniedException"):
            return Finding(check, FAIL, f"{arn} does not exist or is not public in {t.settings.region}",
                           "take the ARN for the region from docs.powertools.aws.dev/lambda/python/latest "
                           "and set serenya:powertoolsLayerArn")
        return _unanswered(check, "lambda:GetLayerVersionByArn", e)
    except BotoCoreError as e:
        return _unanswered(check, "lambda:GetLayerVersionByArn", e)
    runtimes, architectures = layer.get("CompatibleRuntimes") or [], layer.get("CompatibleArchitectures") or []
    if (runtimes and LAMBDA_RUNTIME not in runtimes) or (architectures and LAMBDA_ARCHITECTURE not in architectures):
        return Finding(check, FAIL, f"the layer is for {runtimes}/{architectures}, the functions run "
                                    f"{LAMBDA_RUNTIME}/{LAMBDA_ARCHITECTURE}",
                       f"use the {LAMBDA_RUNTIME.replace('.', '')}-{LAMBDA_ARCHITECTURE} layer")
    found = _POWERTOOLS_VERSION.search(layer.get("Description") or "")
    if not found:
        return Finding(check, WARN, "the layer does not say which Powertools version it holds",
                       f"the tests ran with {t.powertools_version}: check the layer's release notes")
    if t.powertools_version and found.group(1) != t.powertools_version:
        return Finding(check, WARN, f"the layer holds Powertools {found.group(1)}, the tests ran with "
                                    f"{t.powertools_version}",
                       "use the layer version of the tested release, or pin the tested version to the layer's")
    return Finding(check, OK, f"Powertools {found.group(1)} for {LAMBDA_RUNTIME}/{LAMBDA_ARCHITECTURE}")


# -- Bedrock --------------------------------------------------------------------------

def foundation_models(t: Target, model_id: str) -> list[str]:
    """The foundation models behind the stack's model id (an inference profile has several ARNs)."""
    if not model_id.startswith(_PROFILE_PREFIXES):
        return [model_id.rsplit("/", 1)[-1]]
    profile = t.client("bedrock").get_inference_profile(inferenceProfileIdentifier=model_id)
    if profile.get("status") != "ACTIVE":
        raise ValueError(f"inference profile {model_id} is {profile.get('status')}")
    return sorted({m["modelArn"].rsplit("/", 1)[-1] for m in profile["models"]})


def bedrock_model(t: Target) -> Finding:
    check = "bedrock-model"
    s = t.settings
    bedrock = t.client("bedrock")
    try:
        models = foundation_models(t, s.bedrock_model_id)
    except ClientError as e:
        if _error(e) in ("ResourceNotFoundException", "ValidationException"):
            return Finding(check, FAIL, f"{s.bedrock_model_id} is not an inference profile in {s.region}",
                           "aws bedrock list-inference-profiles: set serenya:bedrockModelId to an ACTIVE one")
        return _unanswered(check, "bedrock:GetInferenceProfile", e)
    except ValueError as e:
        return Finding(check, FAIL, str(e), "set serenya:bedrockModelId to an ACTIVE inference profile")
    except BotoCoreError as e:
        return _unanswered(check, "bedrock:GetInferenceProfile", e)
    model = next((m for m in models if m.startswith(("anthropic.", "amazon.", "meta.", "mistral."))), models[0])
    try:
        availability = bedrock.get_foundation_model_availability(modelId=model)
    except (ClientError, BotoCoreError) as e:
        return _unanswered(check, "bedrock:GetFoundationModelAvailability", e)
    missing = []
    if availability["regionAvailability"] != "AVAILABLE":
        missing.append(f"not offered in {s.region}")
    if availability["entitlementAvailability"] != "AVAILABLE":
        missing.append("no Marketplace subscription (entitlement)")
    agreement = availability["agreementAvailability"]["status"]
    if agreement != "AVAILABLE":
        missing.append(f"model agreement {agreement.lower().replace('_', ' ')}")
    if availability["authorizationStatus"] != "AUTHORIZED":
        missing.append("these credentials are not authorized for it (IAM or an SCP)")
    if model.startswith("anthropic."):
        try:
            bedrock.get_use_case_for_model_access()
        except ClientError as e:
            if _error(e) != "ResourceNotFoundException":
                return _unanswered(check, "bedrock:GetUseCaseForModelAccess", e)
            missing.append("Anthropic's first-time use case form was never submitted")
        except BotoCoreError as e:
            return _unanswered(check, "bedrock:GetUseCaseForModelAccess", e)
    if not missing:
        return Finding(check, OK, f"{s.bedrock_model_id} ({model}) can be called in {s.region}")
    pending_only = missing == ["model agreement pending"]
    return Finding(check, WARN if pending_only else FAIL, f"{model}: " + "; ".join(missing),
                   "as an administrator: Bedrock console > Model catalog > the model: submit the use case form and "
                   "open it in the playground once (that subscribes the account); the process role may not "
                   f"subscribe by design. {MODEL_ACCESS_DOC}")


# -- secrets, pins, logging, alerts ----------------------------------------------------

def third_party_secret(t: Target) -> Finding:
    check = "third-party-secret"
    name = f"{t.settings.project}/{t.settings.env}/third-party"
    secrets = t.client("secretsmanager")
    fix = (f"aws secretsmanager put-secret-value --secret-id {name} --secret-string file://third-party.json "
           "(the Google Play service account key, see docs/configuration.md)")
    try:
        secrets.describe_secret(SecretId=name)
    except ClientError as e:
        if _error(e) == "ResourceNotFoundException":
            return Finding(check, WARN, f"{name} does not exist yet (pulumi up creates it)", f"after pulumi up: {fix}")
        return _unanswered(check, "secretsmanager:DescribeSecret", e)
    except BotoCoreError as e:
        return _unanswered(check, "secretsmanager:DescribeSecret", e)
    try:
        value = secrets.get_secret_value(SecretId=name).get("SecretString")
    except ClientError as e:
        if _error(e) == "ResourceNotFoundException":  # a secret without a current version
            return Finding(check, FAIL, f"{name} has no value: Google Play notifications answer 503", fix)
        return _unanswered(check, "secretsmanager:GetSecretValue", e)
    except BotoCoreError as e:
        return _unanswered(check, "secretsmanager:GetSecretValue", e)
    problem = credentials.problem(value)
    if problem:  # names of missing keys only: never a value
        why = "is not JSON" if problem != "secret_missing_keys" else \
            "lacks " + ", ".join(credentials.missing_keys(json.loads(value)))
        return Finding(check, FAIL, f"{name} {why}: Google Play notifications answer 503", fix)
    return Finding(check, OK, f"{name} holds the expected keys")


def apple_root_pin(t: Target) -> Finding:
    check = "apple-root-pin"
    pin = t.settings.stores.apple_root_sha256 if t.settings.stores else ""
    if pin == APPLE_ROOT_CA_G3_SHA256:
        return Finding(check, OK, "serenya:appleRootSha256 is Apple Root CA - G3", offline=True)
    return Finding(check, FAIL, f"serenya:appleRootSha256 {pin[:12]}... is not Apple Root CA - G3: every App Store "
                                "notification would be refused",
                   f"set serenya:appleRootSha256: {APPLE_ROOT_CA_G3_SHA256} "
                   "(SHA-256 of AppleRootCA-G3.cer from apple.com/certificateauthority)", offline=True)


def api_gateway_logging(t: Target) -> Finding:
    """API Gateway logs through the role its account settings name, one per account and
    region, set by the account stack (components/account.py). Without it the stage's
    access logging fails `pulumi up`; with a role that no longer exists (the account
    stack destroyed, the role deleted by hand) API Gateway cannot write a log line."""
    check = "api-gateway-logging"
    region = t.settings.region
    try:
        arn = t.client("apigateway").get_account().get("cloudwatchRoleArn")
    except (ClientError, BotoCoreError) as e:
        return _unanswered(check, "apigateway:GET /account", e)
    if not arn:
        return Finding(check, FAIL, f"API Gateway has no CloudWatch Logs role in {region} (account setting "
                                    "cloudwatchRoleArn): the account stack is not deployed, and pulumi up fails "
                                    "at the stage", f"deploy the account stack once: {account.deploy_commands(region)}")
    role = arn.rsplit("/", 1)[-1]  # a role ARN ends in its name, after any path
    try:
        t.client("iam").get_role(RoleName=role)
    except ClientError as e:
        if _error(e) != "NoSuchEntity":
            return _unanswered(check, "iam:GetRole", e)
        return Finding(check, FAIL, f"API Gateway's account setting in {region} names the role {role}, which does "
                                    "not exist: no API of the region can log (was the account stack destroyed?)",
                       f"redeploy the account stack: {account.deploy_commands(region, new=False)}, or, if it was "
                       f"never deployed in this account: {account.deploy_commands(region)}")
    except BotoCoreError as e:
        return _unanswered(check, "iam:GetRole", e)
    return Finding(check, OK, f"API Gateway logs through {role} in {region} (the account stack)")


def alert_email(t: Target) -> Finding:
    check = "alert-email"
    s = t.settings
    if not s.alert_email:
        return Finding(check, OK, "no serenya:alertEmail: alarms reach the topics only", offline=True)
    try:
        account = t.client("sts").get_caller_identity()["Account"]
    except (ClientError, BotoCoreError) as e:
        return _unanswered(check, "sts:GetCallerIdentity", e)
    pending = []
    for topic in (s.name("critical"), s.name("warning")):
        arn = f"arn:aws:sns:{s.region}:{account}:{topic}"
        try:
            subscriptions = t.client("sns").list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
        except ClientError as e:
            if _error(e) in ("NotFound", "NotFoundException"):
                return Finding(check, OK, "not deployed yet: pulumi up subscribes the alert email",
                               "after pulumi up, confirm the email AWS sends")
            return _unanswered(check, "sns:ListSubscriptionsByTopic", e)
        except BotoCoreError as e:
            return _unanswered(check, "sns:ListSubscriptionsByTopic", e)
        mine = [x for x in subscriptions if x.get("Protocol") == "email"]
        if not mine or any(x.get("SubscriptionArn") == "PendingConfirmation" for x in mine):
            pending.append(topic)
    if pending:
        return Finding(check, WARN, f"the alert email of {', '.join(pending)} is not confirmed: nobody is paged",
                       f"open the 'AWS Notification - Subscription Confirmation' email sent to the alert address "
                       f"and confirm it (or re-run pulumi up to resend)")
    return Finding(check, OK, "the alert email is confirmed on both topics")


CHECKS = (account_concurrency, bedrock_model, powertools_layer, third_party_secret, apple_root_pin,
          api_gateway_logging, alert_email)


def run(target: Target, checks=CHECKS) -> list[Finding]:
    return [check(target) for check in checks]
