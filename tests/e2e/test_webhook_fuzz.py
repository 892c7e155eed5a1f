"""Fuzzing the webhook's decoded payload fields through the local stack: the schema fuzz
(test_fuzz.py) only reaches the outer JSON, but a JWS signed by a chain the stack trusts
gets past the format check, so here every field Apple or Google documents is replaced by
hostile values (wrong types, huge, negative and non-finite numbers, nested objects, long
strings, missing) under: the local stack's own Apple chain (trusted: the payload is
decoded), a self-made chain it does not trust, Apple's real chain and signature from the
real-format samples (tests/fixtures/real_events/apple), a correctly authenticated Pub/Sub
push, and Google's real-format push body (tests/fixtures/real_events/google).

Unauthenticated input never causes a 5xx (API.md, Conventions): every answer is 200, 400
or 401, and nothing changes: the notifications target a real premium subscriber, built so
that even one the webhook accepts (an undocumented type, a product it does not sell) is
older than what is recorded (stale), and the profile and the set of profiles are compared."""

import base64
import copy
import json
import time
from collections import Counter

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.common import accounts
from local.store import AppleChain
from tests.fixtures.real_samples import real_json, real_text

PRODUCT = "health.serenya.premium.monthly"
HOUR_MS = 3_600_000
CHECKS = dict(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
ANSWERED: dict[str, Counter] = {}

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10 ** 40, max_value=10 ** 40),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40))
nested = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=12)
MISSING = object()
# Values no documented field of the kind accepts.
not_a_string = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.lists(nested, max_size=3),
                         st.dictionaries(st.text(max_size=5), nested, max_size=3), st.just(""),
                         st.just("x" * 100_000), st.just(MISSING))
any_string = st.one_of(not_a_string, st.text(max_size=300), st.just("\u202e\x00" * 50))


def not_a_time_ms(now_ms):
    """Not an integer count of ms in the window the webhook accepts."""
    return st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(), st.just(MISSING),
                     st.sampled_from([1e300, 10 ** 30, -10 ** 15, -1, 0, 2 ** 63, 10 ** 100]),
                     st.integers(max_value=now_ms - 181 * 24 * HOUR_MS), st.integers(min_value=now_ms + 2 * HOUR_MS),
                     st.text(max_size=30), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3),
                                                                                              st.integers(), max_size=2))


def put(record: dict, name: str, value) -> None:
    if value is MISSING:
        record.pop(name, None)
    else:
        record[name] = value


def reported(kind: str, status: int) -> None:
    ANSWERED.setdefault(kind, Counter())[status] += 1
    # 413: a generated notification over the webhook's 256 KiB (functions/common/limits.py)
    assert status in (200, 400, 401, 413), (kind, status)


@pytest.fixture(scope="module", autouse=True)
def summary(stack):
    before = stack.statuses.copy()
    yield
    for kind, statuses in sorted(ANSWERED.items()):
        print(f"\nwebhook fuzz {kind}: {sum(statuses.values())} sent, by status {dict(sorted(statuses.items()))}")
    sent = stack.statuses - before
    assert not {s for s in sent if s >= 500}, sent


@pytest.fixture(scope="module")
def subscriber(client, stack):
    """A premium subscriber on both stores, whose recorded states are newer than anything fuzzed."""
    status, body = client.onboard("google", "webhook-fuzz-target")
    user_id = body["user"]["id"]
    now = int(time.time() * 1000)
    apple_now = stack.store.apple_notification(user_id, "SUBSCRIBED", PRODUCT, signed_ms=now,
                                               original_transaction_id="fuzz-orig")
    assert client.call("POST", "/api/v1/subscriptions/webhook", apple_now)[1]["outcome"] == "applied"
    push, headers = stack.store.google_notification(user_id, 4, PRODUCT, event_ms=now)
    assert client.call("POST", "/api/v1/subscriptions/webhook", push, headers=headers)[1]["outcome"] == "applied"
    table = boto3.resource("dynamodb", endpoint_url=stack.aws_endpoint_url, region_name="eu-west-1",
                           aws_access_key_id="local", aws_secret_access_key="local").Table("serenya-dev")

    def snapshot():
        profile = table.get_item(Key=accounts.profile_key(user_id), ConsistentRead=True)["Item"]
        profiles = {(i["PK"], i["SK"]) for i in table.scan(ProjectionExpression="PK, SK")["Items"]
                    if not i["PK"].startswith("IDEMPOTENCY#")}
        return profile, profiles

    return user_id, now - HOUR_MS, snapshot  # fuzzed notifications are an hour older: stale if accepted


# -- Apple -------------------------------------------------------------------------------------

APPLE_FIELDS = {  # (where, name): what replaces it
    ("payload", "signedDate"): "time", ("payload", "notificationType"): "string",
    ("payload", "subtype"): "string", ("payload", "notificationUUID"): "string", ("payload", "version"): "string",
    ("payload", "data"): "nested", ("data", "bundleId"): "string", ("data", "environment"): "string",
    ("data", "signedTransactionInfo"): "nested", ("data", "signedRenewalInfo"): "nested",
    ("transaction", "signedDate"): "time", ("transaction", "expiresDate"): "time",
    ("transaction", "productId"): "string", ("transaction", "appAccountToken"): "string",
    ("transaction", "originalTransactionId"): "id", ("transaction", "bundleId"): "string",
    ("transaction", "price"): "nested", ("transaction", "currency"): "string",
    ("renewal", "signedDate"): "time", ("renewal", "gracePeriodExpiresDate"): "time",
}


def hostile(kind: str, now_ms: int):
    return {"time": not_a_time_ms(now_ms), "string": any_string, "id": not_a_string,
            "nested": st.one_of(nested, not_a_string)}[kind]


@st.composite
def apple_cases(draw, now_ms):
    changes = draw(st.lists(st.sampled_from(sorted(APPLE_FIELDS)), min_size=1, max_size=3, unique=True))
    return [(field, draw(hostile(APPLE_FIELDS[field], now_ms))) for field in changes]


def apple_body(chain, store, user_id, signed_ms, changes):
    records = {
        "transaction": {"transactionId": "1", "originalTransactionId": "fuzz-orig", "bundleId": store.bundle_id,
                        "productId": PRODUCT, "purchaseDate": signed_ms - 1000, "expiresDate": signed_ms + 30 * 24 * HOUR_MS,
                        "appAccountToken": user_id, "environment": store.environment, "signedDate": signed_ms,
                        "price": 9990, "currency": "EUR"},
        "renewal": {"autoRenewProductId": PRODUCT, "signedDate": signed_ms, "originalTransactionId": "fuzz-orig",
                    "gracePeriodExpiresDate": signed_ms + 16 * 24 * HOUR_MS},
        "payload": {"notificationType": "SUBSCRIBED", "notificationUUID": f"fuzz-{time.monotonic_ns()}",
                    "version": "2.0", "signedDate": signed_ms},
    }
    for (where, name), value in changes:
        if where in records:
            put(records[where], name, value)
    data = {"bundleId": store.bundle_id, "environment": store.environment,
            "signedTransactionInfo": chain.sign(records["transaction"]),
            "signedRenewalInfo": chain.sign(records["renewal"])}
    for (where, name), value in changes:
        if where == "data":
            put(data, name, value)
    payload = records["payload"]
    if "data" not in payload and (("payload", "data") not in dict(changes)):
        payload["data"] = data
    return payload


def test_apple_fields_under_the_trusted_chain(client, stack, subscriber):
    user_id, signed_ms, snapshot = subscriber
    before = snapshot()

    @given(changes=apple_cases(signed_ms))
    @settings(max_examples=200, **CHECKS)
    def run(changes):
        payload = apple_body(stack.store.apple, stack.store, user_id, signed_ms, changes)
        status, answer = client.call("POST", "/api/v1/subscriptions/webhook",
                                     {"signedPayload": stack.store.apple.sign(payload)})
        reported("apple/trusted chain", status)
        if status == 200:
            assert answer["outcome"] in ("stale", "no_change", "unknown_user", "unknown_product"), (changes, answer)

    run()
    assert snapshot() == before


def test_apple_fields_under_a_self_made_chain(client, stack, subscriber):
    user_id, signed_ms, snapshot = subscriber
    before = snapshot()
    forger = AppleChain.generate()

    @given(changes=apple_cases(signed_ms))
    @settings(max_examples=60, **CHECKS)
    def run(changes):
        payload = apple_body(forger, stack.store, user_id, signed_ms, changes)
        status, answer = client.call("POST", "/api/v1/subscriptions/webhook", {"signedPayload": forger.sign(payload)})
        reported("apple/self-made chain", status)
        assert status in (400, 401, 413)  # refused: forged, malformed or over the size limit

    run()
    assert snapshot() == before


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_apple_fields_under_apples_real_chains(client, stack, subscriber):
    """Apple's test notification as sent (its chain and signature), and Apple's production
    chain (real_apple_chain.json), each with a hostile payload in place of the signed one."""
    user_id, signed_ms, snapshot = subscriber
    before = snapshot()
    sample_header, _, sample_signature = real_text("apple/testNotification").strip().split(".")
    production = real_json("apple/real_apple_chain.json")["x5c"]
    production_header = b64url(json.dumps({"alg": "ES256", "x5c": production}).encode())

    @given(changes=apple_cases(signed_ms), header=st.sampled_from([sample_header, production_header]))
    @settings(max_examples=60, **CHECKS)
    def run(changes, header):
        payload = apple_body(stack.store.apple, stack.store, user_id, signed_ms, changes)
        token = f"{header}.{b64url(json.dumps(payload, allow_nan=True).encode())}.{sample_signature}"
        status, answer = client.call("POST", "/api/v1/subscriptions/webhook", {"signedPayload": token})
        reported("apple/real chains", status)
        assert status in (400, 401, 413)  # refused: forged, malformed or over the size limit

    run()
    assert snapshot() == before


# -- Google ------------------------------------------------------------------------------------

GOOGLE_FIELDS = {
    ("message", "messageId"): "string", ("message", "data"): "raw", ("message", "publishTime"): "string",
    ("data", "version"): "string", ("data", "packageName"): "string", ("data", "eventTimeMillis"): "time",
    ("data", "subscriptionNotification"): "nested", ("data", "testNotification"): "nested",
    ("notification", "notificationType"): "type", ("notification", "purchaseToken"): "string",
    ("notification", "subscriptionId"): "string", ("notification", "version"): "string",
}


def google_hostile(kind: str, now_ms: int):
    if kind == "time":  # also as strings, as proto3 JSON writes a long
        return st.one_of(not_a_time_ms(now_ms), st.integers(max_value=now_ms - 181 * 24 * HOUR_MS).map(str),
                         st.integers(min_value=now_ms + 2 * HOUR_MS).map(str),
                         st.sampled_from(["1e300", "-5", " 17", "0x10", "١٢٣", "NaN", "9" * 30]))
    if kind == "type":
        return st.one_of(not_a_string, st.text(max_size=5), st.integers(min_value=-10 ** 30, max_value=10 ** 30),
                         st.sampled_from([14, 99, 2 ** 31]))
    if kind == "raw":
        return st.one_of(not_a_string, st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode()),
                         nested.map(lambda v: base64.b64encode(json.dumps(v).encode()).decode()),
                         st.just("%%%not base64"), st.just(base64.b64encode(b"[" * 5000).decode()))
    return hostile(kind, now_ms)


@st.composite
def google_cases(draw, now_ms):
    changes = draw(st.lists(st.sampled_from(sorted(GOOGLE_FIELDS)), min_size=1, max_size=3, unique=True))
    return [(field, draw(google_hostile(GOOGLE_FIELDS[field], now_ms))) for field in changes]


def google_body(sample: dict, stack, user_id, event_ms, changes):
    notification = {"version": "1.0", "notificationType": 4, "subscriptionId": PRODUCT,
                    "purchaseToken": stack.store.purchase_token(user_id, PRODUCT)}
    data = {"version": "1.0", "packageName": stack.store.package_name, "eventTimeMillis": str(event_ms),
            "subscriptionNotification": notification}
    body = copy.deepcopy(sample)
    body["message"]["messageId"] = f"fuzz-{time.monotonic_ns()}"
    records = {"notification": notification, "data": data, "message": body["message"]}
    for where in ("notification", "data"):
        for (at, name), value in changes:
            if at == where:
                put(records[where], name, value)
    body["message"]["data"] = base64.b64encode(json.dumps(data, allow_nan=True).encode()).decode()
    for (at, name), value in changes:
        if at == "message":
            put(body["message"], name, value)
    return body


@pytest.mark.parametrize("source", ["local push", "real-format push"])
def test_google_fields_in_an_authenticated_push(client, stack, subscriber, source):
    user_id, event_ms, snapshot = subscriber
    before = snapshot()
    if source == "local push":
        sample, headers = stack.store.google_notification(user_id, 4, PRODUCT, event_ms=event_ms)
    else:
        sample = real_json("google/rtdn-push-body.json")
        headers = stack.store.google_notification(user_id, 4, PRODUCT, event_ms=event_ms)[1]
    acknowledged = list(stack.store.acknowledgements)

    @given(changes=google_cases(event_ms))
    @settings(max_examples=120, **CHECKS)
    def run(changes):
        body = google_body(sample, stack, user_id, event_ms, changes)
        status, answer = client.call("POST", "/api/v1/subscriptions/webhook", body, headers=headers)
        reported(f"google/{source}", status)
        if status == 200:
            assert answer["outcome"] in ("stale", "no_change", "unknown_purchase", "unknown_user",
                                         "unknown_product"), (changes, answer)

    run()
    assert snapshot() == before
    assert stack.store.acknowledgements == acknowledged
