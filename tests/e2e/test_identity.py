"""Identity end to end over HTTP, as the app would do it: onboarding, sign-in, the
profile, deleting the account, token attacks and bad input."""

import base64
import json
import threading

import boto3
import pytest

from functions.catalog import by_name

from tests.e2e.conftest import CONSENTS, DEVICE


def table_items(stack):
    return boto3.resource("dynamodb", endpoint_url=stack.aws_endpoint_url, region_name="eu-west-1",
                          aws_access_key_id="local", aws_secret_access_key="local").Table("serenya-dev").scan()["Items"]


@pytest.mark.parametrize("provider", ["google", "apple"])
def test_new_user_journey(client, stack, provider):
    sub = f"{provider}-journey"
    status, body = client.onboard(provider, sub, given_name="Ana", family_name="Lima")
    assert status == 201 and body["token_type"] == "Bearer" and 0 < body["expires_in"] <= 3600
    user = body["user"]
    assert user["email"] == f"{sub}@example.com" and user["auth_provider"] == provider
    assert (user["given_name"], user["family_name"]) == ("Ana", "Lima")
    assert user["subscription"]["type"] == "free" and user["consents"]["privacy_policy"]["accepted"]
    token = body["access_token"]

    status, profile = client.call("GET", "/api/v1/user/profile", token=token)
    assert status == 200 and profile["id"] == user["id"]

    status, updated = client.call("PUT", "/api/v1/user/profile", {"given_name": "Ana Maria", "biometric": {"enabled": True}},
                                  token=token)
    assert status == 200 and updated["given_name"] == "Ana Maria" and updated["biometric"] == {"enabled": True}
    status, updated = client.call("PUT", "/api/v1/user/profile", {"biometric": None}, token=token)
    assert status == 200 and "biometric" not in updated

    status, signed_in = client.call("POST", "/api/v1/auth/oauth-signin",
                                    {"provider": provider, "id_token": client.id_token(provider, sub), "device": DEVICE})
    assert status == 200 and signed_in["user"]["id"] == user["id"] and signed_in["access_token"] != token

    # Onboarding again is a sign-in that records the consents.
    status, again = client.onboard(provider, sub)
    assert status == 200 and again["user"]["id"] == user["id"]

    assert client.call("DELETE", "/api/v1/user/profile", token=signed_in["access_token"]) == (204, None)
    status, error = client.call("GET", "/api/v1/user/profile", token=token)
    assert status == 401
    status, error = client.call("POST", "/api/v1/auth/oauth-signin",
                                {"provider": provider, "id_token": client.id_token(provider, sub), "device": DEVICE})
    assert (status, error["error"]["code"]) == (404, "user_not_found")
    assert not [i for i in table_items(stack) if i.get("user_id") == user["id"]]


def test_deleting_the_account_removes_its_job_files(client, stack):
    status, body = client.onboard("google", "with-files")
    user_id, token = body["user"]["id"], body["access_token"]
    s3 = boto3.client("s3", endpoint_url=stack.aws_endpoint_url, region_name="eu-west-1",
                      aws_access_key_id="local", aws_secret_access_key="local")
    bucket = stack.program.outputs["temp_bucket"]
    mine = [f"outgoing/result_{user_id}_1_a", f"outgoing/chat_{user_id}_2_b"]
    theirs = "outgoing/result_someone-else_1_a"
    for key in mine + [theirs]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"{}")
    assert client.call("DELETE", "/api/v1/user/profile", token=token)[0] == 204
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="outgoing/").get("Contents", [])}
    assert theirs in keys and not keys & set(mine)


def test_the_table_holds_no_plaintext_pii(client, stack):
    client.onboard("google", "private-person", given_name="Zelda", family_name="Quintero")
    stored = repr(table_items(stack))
    for secret in ("private-person@example.com", "Zelda", "Quintero", "Test Person"):
        assert secret not in stored


def test_concurrent_onboarding_creates_one_account(client, stack):
    """Eight app instances at once, each in its own auth execution environment as on
    Lambda: all eight are held at their account transaction until every one is there, so
    they race for the identity in DynamoDB itself (moto, with DynamoDB's conditional
    semantics: local/aws_rules.py), not one after the other."""
    from local.runtime import current_function

    token = client.id_token("google", "racer", email="racer@example.com")
    at_the_transaction = threading.Barrier(8, timeout=30)  # a serialised runtime breaks it

    def hold(**_):
        if current_function() == "auth":
            at_the_transaction.wait()

    events = boto3._get_default_session().events  # the functions' clients' session
    events.register("before-call.dynamodb.TransactWriteItems", hold, unique_id="race-hold")
    results = []

    def onboard():
        results.append(client.call("POST", "/api/v1/auth/oauth-onboarding",
                                   {"provider": "google", "id_token": token, "device": DEVICE, "consents": CONSENTS}))

    try:
        threads = [threading.Thread(target=onboard) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="race-hold")
    statuses = sorted(status for status, _ in results)  # a client that timed out has none
    assert statuses.count(201) == 1 and statuses.count(200) == 7, statuses
    assert not at_the_transaction.broken and stack.functions.containers["auth"] >= 8
    assert len({body["user"]["id"] for _, body in results}) == 1
    profiles = [i for i in table_items(stack) if i.get("GSI2PK") == "EXTERNAL#google#racer"]
    assert len(profiles) == 1


# -- token attacks: never 2xx, never 5xx --------------------------------------------

def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parts(token):
    header, payload, signature = token.split(".")
    return (json.loads(base64.urlsafe_b64decode(header + "==")), json.loads(base64.urlsafe_b64decode(payload + "==")),
            signature)


@pytest.fixture(scope="module")
def victim(client):
    status, body = client.onboard("google", "victim")
    return body


def attacks(client, victim):
    header, claims, signature = parts(victim["access_token"])
    yield "alg none", f"{b64(json.dumps({**header, 'alg': 'none'}).encode())}.{b64(json.dumps(claims).encode())}."
    yield "forged payload", f"{b64(json.dumps(header).encode())}.{b64(json.dumps({**claims, 'sub': 'x'}).encode())}.{signature}"
    yield "expired", f"{b64(json.dumps(header).encode())}.{b64(json.dumps({**claims, 'exp': 1}).encode())}.{signature}"
    yield "wrong audience", f"{b64(json.dumps(header).encode())}.{b64(json.dumps({**claims, 'aud': 'x'}).encode())}.{signature}"
    yield "id token as access token", client.id_token("google", "victim")
    yield "garbage", "not.a.token"
    from cryptography.hazmat.primitives.asymmetric import ec
    import jwt
    yield "foreign key", jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers=header)


def test_token_attacks_are_refused(client, victim):
    for name, token in attacks(client, victim):
        for method, path in [("GET", "/api/v1/user/profile"), ("DELETE", "/api/v1/user/profile")]:
            status, body = client.call(method, path, token=token)
            assert status in (401, 403), (name, status)
            assert body["error"]["code"] in ("unauthorized", "forbidden"), name
    assert client.call("GET", "/api/v1/user/profile", token=victim["access_token"])[0] == 200  # still there


def test_missing_or_non_bearer_authorization(client):
    assert client.call("GET", "/api/v1/user/profile")[0] == 401
    assert client.call("GET", "/api/v1/user/profile", headers={"Authorization": "Basic dXNlcjpwYXNz"})[0] == 401


# -- bad input: a 4xx with a code, nothing written -----------------------------------

@pytest.mark.parametrize("path, body, status, code", [
    ("/api/v1/auth/oauth-onboarding", b"{not json", 400, "invalid_json"),
    ("/api/v1/auth/oauth-onboarding", b"[1, 2]", 400, "invalid_json"),
    ("/api/v1/auth/oauth-onboarding", json.dumps({"provider": "google"}).encode(), 422, "validation_error"),
    ("/api/v1/auth/oauth-onboarding", json.dumps({"provider": "facebook", "id_token": "x" * 40, "device": DEVICE,
                                                  "consents": CONSENTS}).encode(), 422, "validation_error"),
    ("/api/v1/auth/oauth-onboarding", json.dumps({"provider": "google", "id_token": 42, "device": DEVICE}).encode(),
     422, "validation_error"),
    ("/api/v1/auth/oauth-onboarding", json.dumps({"provider": "google", "id_token": "x" * 40, "device": DEVICE,
                                                  "consents": {"privacy_policy": CONSENTS["privacy_policy"]}}).encode(),
     400, "consent_required"),
    ("/api/v1/auth/oauth-onboarding", json.dumps({"provider": "google", "id_token": "x" * 40, "device": DEVICE,
                                                  "consents": {**CONSENTS, "terms_of_service": {"version": "1",
                                                                                                "accepted": False}}}).encode(),
     400, "consent_required"),
    ("/api/v1/auth/oauth-onboarding", json.dumps({"provider": "google", "id_token": "x" * 40, "device": DEVICE,
                                                  "consents": CONSENTS}).encode(), 401, "invalid_token"),
    ("/api/v1/auth/oauth-signin", json.dumps({"provider": "apple", "id_token": "x" * 40,
                                              "device": {"platform": "windows", "device_id": "d"}}).encode(),
     422, "validation_error"),
    ("/api/v1/auth/oauth-signin", b"x" * (10 * 1024 * 1024 + 1), 413, "payload_too_large"),
])
def test_bad_auth_input_is_a_4xx_and_writes_nothing(client, stack, path, body, status, code):
    before = len(table_items(stack))
    got_status, error = client.call("POST", path, raw=body)
    assert (got_status, error["error"]["code"]) == (status, code)
    assert error["error"]["message"] and error["error"]["request_id"]
    assert len(table_items(stack)) == before


@pytest.mark.parametrize("body, status, code", [
    ({"email": "new@example.com"}, 400, "read_only_field"),
    ({"subscription": {"type": "premium"}}, 400, "read_only_field"),
    ({"id": "another"}, 400, "read_only_field"),
    ({"given_name": ""}, 422, "validation_error"),
    ({"given_name": 7}, 422, "validation_error"),
    ({"favourite_colour": "blue"}, 422, "validation_error"),
    ({"device": {"platform": "ios"}}, 422, "validation_error"),
])
def test_bad_profile_updates_change_nothing(client, victim, body, status, code):
    token = victim["access_token"]
    before = client.call("GET", "/api/v1/user/profile", token=token)[1]
    got_status, error = client.call("PUT", "/api/v1/user/profile", body, token=token)
    assert (got_status, error["error"]["code"]) == (status, code)
    assert client.call("GET", "/api/v1/user/profile", token=token)[1] == before


def test_sign_in_of_an_unknown_identity(client):
    status, body = client.call("POST", "/api/v1/auth/oauth-signin",
                               {"provider": "google", "id_token": client.id_token("google", "stranger"), "device": DEVICE})
    assert (status, body["error"]["code"]) == (404, "user_not_found")


def test_nonce_must_match_when_sent(client):
    token = client.id_token("apple", "nonce-user", nonce="abc")
    body = {"provider": "apple", "id_token": token, "device": DEVICE, "consents": CONSENTS}
    assert client.call("POST", "/api/v1/auth/oauth-onboarding", {**body, "nonce": "xyz"})[0] == 401
    assert client.call("POST", "/api/v1/auth/oauth-onboarding", {**body, "nonce": "abc"})[0] == 201


def test_logs_and_metrics_carry_no_pii_or_tokens(client):
    """Everything the functions log during a full journey, as CloudWatch would receive it."""
    import io
    import logging
    import sys

    from functions.common.observability import logger

    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    real_stdout, sys.stdout = sys.stdout, io.StringIO()  # EMF metrics are printed to stdout
    try:
        status, body = client.onboard("google", "log-watcher", given_name="Quentin", family_name="Blake")
        token = body["access_token"]
        client.call("PUT", "/api/v1/user/profile", {"family_name": "Blakeley"}, token=token)
        client.call("POST", "/api/v1/auth/oauth-signin", {"provider": "google", "id_token": "x" * 40, "device": DEVICE})
        client.call("DELETE", "/api/v1/user/profile", token=token)
        emitted = sink.getvalue() + sys.stdout.getvalue()
    finally:
        sys.stdout = real_stdout
        logger.removeHandler(handler)
    assert "account created" in emitted and "SignInFailures" in emitted  # the capture works
    for secret in ("log-watcher@example.com", "Quentin", "Blake", token, token.split(".")[1]):
        assert secret not in emitted


def test_the_local_gateway_validates_bodies_with_the_document_api_gateway_gets(client, stack, monkeypatch):
    """A body that is not a JSON object never reaches the function, as behind API
    Gateway's request validator (tests/local/test_gateway.py has the rules)."""
    invoked, invoke = [], stack.functions.invoke

    def counting(name, event, **kwargs):
        if by_name()[name].routes:  # the gateway's integrations, not the pollers' deliveries meanwhile
            invoked.append(name)
        return invoke(name, event, **kwargs)

    monkeypatch.setattr(stack.functions, "invoke", counting)
    status, body = client.call("POST", "/api/v1/auth/oauth-onboarding", raw=b"[1]")
    assert status == 400 and body["error"]["code"] == "invalid_json"
    assert invoked == []
    status, _ = client.call("POST", "/api/v1/auth/oauth-onboarding", raw=b"{}")
    assert status in (400, 422) and invoked == ["auth"]  # the function's own validation
