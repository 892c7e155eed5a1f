"""Google Play notifications when the Play credential in the stack's secret is unset,
unreadable or incomplete: 503 `store_unavailable` in the contract's error format, counted
in StoreApiFailures, logged with a reason and no secret material, nothing recorded (so
Pub/Sub's redelivery is processed once the secret is fixed).

The push is the real-format sample (tests/fixtures/real_events/google), with only this
stack's package name, a subscription notification, and a push token for this stack's
audience and service account signed by a test key the function is pointed at."""

import base64
import copy
import json
import time

import boto3
import jwt
import pytest
from botocore.stub import Stubber
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from functions.common import aws, oauth
from functions.subscriptions import credentials, google
from tests.conftest import FakeContext, api_event
from tests.fixtures.real_samples import real_json

PACKAGE = "health.serenya.app"
AUDIENCE = "https://api.serenya.test/api/v1/subscriptions/webhook"
PUSHER = "pubsub-push@serenya-test.iam.gserviceaccount.com"
KID = "pubsub-test-1"
MARKER = "never-log-this-secret-text"  # inside every secret value below

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()).decode()


def push_body() -> dict:
    body = real_json("google/rtdn-push-body.json")
    notification = real_json("google/rtdn-test-notification.json")
    notification["packageName"] = PACKAGE
    notification["eventTimeMillis"] = str(int(time.time() * 1000))
    del notification["testNotification"]
    notification["subscriptionNotification"] = {"version": "1.0", "notificationType": 4,
                                                "purchaseToken": "purchase-token-1",
                                                "subscriptionId": "health.serenya.premium.monthly"}
    body["message"]["data"] = base64.b64encode(json.dumps(notification).encode()).decode()
    return body


def push_token() -> str:
    claims = real_json("google/pubsub-push-oidc-claims.json")
    now = int(time.time())
    claims.update(aud=AUDIENCE, email=PUSHER, iat=now, exp=now + 3600)
    return jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": KID})


@pytest.fixture
def observed(capsys, caplog):
    """What the function printed (EMF metrics) and logged."""
    return capsys, caplog


@pytest.fixture
def webhook(aws_env, monkeypatch):
    """The subscriptions handler against moto, trusting the test push key; returns
    (post, secrets client, table scan)."""
    from functions.common.settings import settings

    secrets = boto3.client("secretsmanager", region_name="eu-west-1")
    for name, value in {"GOOGLE_PACKAGE_NAME": PACKAGE, "GOOGLE_PUBSUB_AUDIENCE": AUDIENCE,
                        "GOOGLE_PUBSUB_SERVICE_ACCOUNT": PUSHER, "PREMIUM_PRODUCTS": "health.serenya.premium.monthly",
                        "SECRET_ARN": secrets.create_secret(Name="serenya/test/third-party")["ARN"]}.items():
        monkeypatch.setenv(name, value)
    for name in ("GOOGLE_ISSUER", "GOOGLE_JWKS_URL", "PLAY_API_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings.cache_clear()
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
    monkeypatch.setattr(oauth, "fetch_jwks", lambda url: ({"keys": [{**jwk, "kid": KID, "alg": "RS256"}]}, None))
    oauth._clients.clear()
    google.play_api.cache_clear()

    from functions.subscriptions import handler as module  # needs TABLE_NAME at import
    # The module may have been imported by another test's stack: point its records at moto's table.
    monkeypatch.setattr(module.persistence, "client", boto3.client("dynamodb", region_name="eu-west-1"))
    monkeypatch.setattr(module.persistence, "table_name", "serenya-test")
    table = boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test")

    def post():
        event = api_event("POST", "/api/v1/subscriptions/webhook", push_body(),
                          headers={"Authorization": f"Bearer {push_token()}"})
        context = FakeContext()
        context.function_name = "serenya-test-subscriptions"  # as deployed: the `function` dimension
        answer = module.handler(event, context)
        return answer["statusCode"], json.loads(answer["body"])

    yield post, secrets, lambda: table.scan()["Items"]
    google.play_api.cache_clear()
    oauth._clients.clear()


def emitted(stdout: str, name: str) -> list[dict]:
    """The EMF records of one metric: {dimension: value} of each."""
    found = []
    for line in stdout.splitlines():
        record = json.loads(line) if line.startswith("{") else {}
        for directive in record.get("_aws", {}).get("CloudWatchMetrics", []):
            if any(m["Name"] == name for m in directive["Metrics"]):
                found.append({d: record[d] for dims in directive["Dimensions"] for d in dims})
    return found


def assert_unavailable(post, scan, observed, reason):
    capsys, caplog = observed
    capsys.readouterr()
    caplog.clear()
    status, body = post()
    out = capsys.readouterr()
    assert status == 503
    assert body["error"]["code"] == "store_unavailable"
    assert set(body["error"]) == {"code", "message", "request_id"} and body["error"]["request_id"] == "req-1"
    failures = emitted(out.out, "StoreApiFailures")
    stream = {"service": "serenya", "stack": "test", "function": "subscriptions"}  # SERENYA_ENV of aws_env
    assert stream in failures  # the totals stream the alarm watches
    assert {**stream, "store": "google", "reason": reason} in failures
    logged = [(r.levelname, r.reason) for r in caplog.records if r.getMessage() == "store unavailable"]
    assert logged == [("ERROR", reason)]
    everything = out.out + out.err + "".join(str(vars(r)) for r in caplog.records)
    assert MARKER not in everything and "PRIVATE KEY" not in everything
    assert scan() == []  # no account change, no idempotency record: a redelivery is processed


def test_a_secret_created_without_a_value(webhook, observed):
    post, _, scan = webhook  # the program creates the secret empty: no AWSCURRENT version
    assert_unavailable(post, scan, observed, "secret_not_set")


@pytest.mark.parametrize("value, reason", [
    (json.dumps({"google_play_service_account": {"client_email": MARKER}}), "secret_missing_keys"),
    (json.dumps({"google_play_service_account": {"client_email": "a@b.c", "private_key": " ",
                                                 "token_uri": MARKER}}), "secret_missing_keys"),
    (json.dumps({"apple": MARKER}), "secret_missing_keys"),
    (json.dumps([MARKER]), "secret_missing_keys"),
    (f"client_email={MARKER}", "secret_not_json"),
    (json.dumps({"google_play_service_account": {"client_email": "a@b.c", "private_key": f"not a key {MARKER}",
                                                 "token_uri": "https://oauth2.googleapis.com/token"}}),
     "service_account_key_invalid"),
])
def test_a_secret_without_what_the_function_needs(webhook, observed, value, reason):
    post, secrets, scan = webhook
    secrets.put_secret_value(SecretId="serenya/test/third-party", SecretString=value)
    assert_unavailable(post, scan, observed, reason)


def test_a_binary_secret(webhook, observed):
    post, secrets, scan = webhook
    secrets.put_secret_value(SecretId="serenya/test/third-party", SecretBinary=MARKER.encode())
    assert_unavailable(post, scan, observed, "secret_not_string")


@pytest.mark.parametrize("code, reason", [
    ("AccessDeniedException", "secret_access_denied"), ("DecryptionFailure", "secret_decryption_failed"),
    ("InvalidRequestException", "secret_unusable"), ("InternalServiceError", "secret_unavailable")])
def test_a_secret_the_function_cannot_read(webhook, observed, code, reason):
    post, _, scan = webhook
    with Stubber(aws.client("secretsmanager")) as stub:  # moto cannot refuse a read
        stub.add_client_error("get_secret_value", service_error_code=code, http_status_code=400)
        assert_unavailable(post, scan, observed, reason)


class FakeGoogle:
    """Google's token endpoint and the Play Developer API, for the recovery test."""

    def __init__(self):
        self.calls = []

    def __call__(self, request, timeout):
        import io

        self.calls.append(request.full_url)
        if request.full_url == "https://oauth2.googleapis.com/token":
            answer = {"access_token": "ya29.test", "expires_in": 3600}
        else:
            answer = {"subscriptionState": "SUBSCRIPTION_STATE_ACTIVE",
                      "lineItems": [{"productId": "health.serenya.premium.monthly",
                                     "expiryTime": "2099-01-01T00:00:00Z"}],
                      "externalAccountIdentifiers": {}}
        response = io.BytesIO(json.dumps(answer).encode())
        response.__enter__ = lambda *_: response
        return response


def test_once_the_secret_is_set_the_redelivered_notification_is_processed(webhook, observed, monkeypatch):
    post, secrets, scan = webhook
    assert_unavailable(post, scan, observed, "secret_not_set")
    fake = FakeGoogle()
    monkeypatch.setattr(google.urllib.request, "urlopen", fake)
    secrets.put_secret_value(SecretId="serenya/test/third-party", SecretString=json.dumps(
        {"google_play_service_account": {"client_email": "play@x.iam.gserviceaccount.com", "private_key": PEM,
                                         "token_uri": "https://oauth2.googleapis.com/token"}}))
    status, body = post()  # Pub/Sub's redelivery
    assert (status, body) == (200, {"status": "accepted", "outcome": "unknown_user"})
    assert len(fake.calls) == 2 and "/purchases/subscriptionsv2/tokens/purchase-token-1" in fake.calls[1]
    assert [i["PK"] for i in scan()] == ["IDEMPOTENCY#subscriptions"]


def test_play_api_failures_are_counted_with_their_own_reason(webhook, observed, monkeypatch):
    import urllib.error

    post, secrets, scan = webhook
    secrets.put_secret_value(SecretId="serenya/test/third-party", SecretString=json.dumps(
        {"google_play_service_account": {"client_email": "play@x.iam.gserviceaccount.com", "private_key": PEM,
                                         "token_uri": "https://oauth2.googleapis.com/token"}}))

    def down(request, timeout):
        raise urllib.error.URLError("connection refused")

    monkeypatch.setattr(google.urllib.request, "urlopen", down)
    assert_unavailable(post, scan, observed, "play_api_failed")


# -- the check a preflight reuses ---------------------------------------------------------

def test_the_expected_keys_are_stated_once():
    good = {"google_play_service_account": {"client_email": "a@b.c", "private_key": PEM, "token_uri": "https://t"}}
    assert credentials.EXPECTED_KEYS == ("google_play_service_account.client_email",
                                         "google_play_service_account.private_key",
                                         "google_play_service_account.token_uri")
    assert credentials.holds_what_subscriptions_needs(json.dumps(good))
    for key in ("client_email", "private_key", "token_uri"):
        partial = copy.deepcopy(good)
        del partial["google_play_service_account"][key]
        assert credentials.missing_keys(partial) == [f"google_play_service_account.{key}"]
        assert credentials.problem(json.dumps(partial)) == "secret_missing_keys"
    assert credentials.problem("{") == "secret_not_json"
    assert credentials.problem(None) == "secret_not_string"
    assert not credentials.holds_what_subscriptions_needs("")


# -- answers of the Play Developer API -----------------------------------------------------

class PlayAnswers:
    """Google's token endpoint, then scripted answers of the Play Developer API: a dict is a
    200 with that body, an int an HTTP error with that status (Google's error body)."""

    def __init__(self, *answers):
        self.answers, self.calls = list(answers), []

    def __call__(self, request, timeout):
        import io
        import urllib.error

        if request.full_url == "https://oauth2.googleapis.com/token":
            answer = {"access_token": "ya29.test", "expires_in": 3600}
        else:
            self.calls.append((request.get_method(), request.full_url))
            answer = self.answers.pop(0)
        if isinstance(answer, int):
            raise urllib.error.HTTPError(request.full_url, answer, "error", {}, io.BytesIO(b'{"error": {}}'))
        response = io.BytesIO(json.dumps(answer).encode())
        response.__enter__ = lambda *_: response
        response.__exit__ = lambda *_: None
        return response


def bought(user_id, acknowledged):
    return {"subscriptionState": "SUBSCRIPTION_STATE_ACTIVE",
            "acknowledgementState": "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED" if acknowledged
            else "ACKNOWLEDGEMENT_STATE_PENDING",
            "lineItems": [{"productId": "health.serenya.premium.monthly", "expiryTime": "2099-01-01T00:00:00Z"}],
            "externalAccountIdentifiers": {"obfuscatedExternalAccountId": user_id}}


@pytest.fixture
def play(webhook, monkeypatch):
    """(post, install answers, scan), with the secret set and a user whose id the purchase names."""
    post, secrets, scan = webhook
    secrets.put_secret_value(SecretId="serenya/test/third-party", SecretString=json.dumps(
        {"google_play_service_account": {"client_email": "play@x.iam.gserviceaccount.com", "private_key": PEM,
                                         "token_uri": "https://oauth2.googleapis.com/token"}}))
    from functions.common import accounts

    boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test").put_item(
        Item=accounts.profile_key("user-1"))

    def answers(*scripted):
        fake = PlayAnswers(*scripted)
        monkeypatch.setattr(google.urllib.request, "urlopen", fake)
        return fake

    return post, answers, scan


@pytest.mark.parametrize("status", [404, 410])
def test_a_token_google_no_longer_knows_is_200_and_counted(play, observed, status):
    """404 purchaseTokenNotFound / 410 purchaseTokenNoLongerValid are permanent
    (https://developer.android.com/google/play/billing/lifecycle/subscriptions#expired):
    200 and counted in Notifications (outcome unknown_purchase), not 503 and StoreApiFailures."""
    post, answers, scan = play
    capsys, _ = observed
    capsys.readouterr()
    answers(status)
    assert post() == (200, {"status": "accepted", "outcome": "unknown_purchase"})
    out = capsys.readouterr().out
    assert {"service": "serenya", "stack": "test", "function": "subscriptions", "store": "google", "type": "4",
            "outcome": "unknown_purchase"} in emitted(out, "Notifications")
    assert emitted(out, "StoreApiFailures") == []


def test_an_unacknowledged_purchase_is_acknowledged_after_it_is_recorded(play):
    post, answers, scan = play
    fake = answers(bought("user-1", acknowledged=False), {})
    assert post() == (200, {"status": "accepted", "outcome": "applied"})
    assert [m for m, _ in fake.calls] == ["GET", "POST"]
    assert fake.calls[1][1].endswith("/purchases/subscriptions/health.serenya.premium.monthly/tokens/"
                                     "purchase-token-1:acknowledge")


def test_an_acknowledged_purchase_is_not_acknowledged_again(play):
    post, answers, scan = play
    fake = answers(bought("user-1", acknowledged=True))
    assert post() == (200, {"status": "accepted", "outcome": "applied"})
    assert [m for m, _ in fake.calls] == ["GET"]


def test_an_acknowledgement_refused_because_another_delivery_won_the_race_is_success(play):
    """Google answers a second acknowledgement 400 invalidPurchaseState: when the purchase
    then reads acknowledged, the notification succeeded."""
    post, answers, scan = play
    fake = answers(bought("user-1", acknowledged=False), 400, bought("user-1", acknowledged=True))
    assert post() == (200, {"status": "accepted", "outcome": "applied"})
    assert [m for m, _ in fake.calls] == ["GET", "POST", "GET"]


def test_a_failed_acknowledgement_is_503_and_the_redelivery_acknowledges(play, observed):
    """The entry is recorded before the acknowledgement; when Google cannot be asked the
    webhook answers 503 (Pub/Sub delivers again) and the redelivery, finding the entry
    recorded, acknowledges."""
    post, answers, scan = play
    capsys, _ = observed
    capsys.readouterr()
    answers(bought("user-1", acknowledged=False), 503)
    status, body = post()
    assert (status, body["error"]["code"]) == (503, "store_unavailable")
    assert {"service": "serenya", "stack": "test", "function": "subscriptions", "store": "google",
            "reason": "play_acknowledge_failed"} in emitted(capsys.readouterr().out, "StoreApiFailures")
    fake = answers(bought("user-1", acknowledged=False), {})
    assert post()[0] == 200  # (this push carries a later eventTimeMillis, so it applies again)
    assert [m for m, _ in fake.calls] == ["GET", "POST"]
