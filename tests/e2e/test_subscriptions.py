"""Subscriptions end to end through the local store simulator, as a new user would:
subscribe, get a doctor report, expire; repeated, reordered and forged notifications."""

import time

import boto3
import pytest

from functions.common import accounts
from local.store import AppleChain

REPORT = {"results": [{"date": "2026-01-10", "result": {
    "document_type": "lab_report", "summary": "s", "confidence": 0.9, "model": "m", "disclaimer": "d",
    "processed_at": "2026-01-10T00:00:00Z", "observations": [
        {"name": "Hemoglobin", "loinc": "718-7", "value": 11.2, "value_text": "11.2", "unit": "g/dL",
         "reference_range": {"low": 12.0, "high": 15.5, "text": "12.0-15.5"}, "flag": "low"}]}}]}


def new_user(client, name):
    status, body = client.onboard("google", name)
    return body["user"]["id"], body["access_token"]


def plan(client, token):
    status, body = client.call("GET", "/api/v1/subscriptions", token=token)
    assert status == 200
    return body["type"], body["status"]


def notify(client, store, user_id, kind, **extra):
    return client.call("POST", f"/local/store/{store}/notify", {"user_id": user_id, "notification_type": kind, **extra})


def test_apple_subscriber_gets_doctor_reports_until_expiry(client):
    user_id, token = new_user(client, "apple-subscriber")
    assert plan(client, token) == ("free", "active")
    assert client.call("POST", "/api/v1/process/doctor-report", REPORT, token=token)[0] == 403
    assert notify(client, "apple", user_id, "SUBSCRIBED") == (200, {"status": "accepted", "outcome": "applied"})
    assert plan(client, token) == ("premium", "active")
    status, body = client.call("GET", "/api/v1/subscriptions", token=token)
    assert body["provider"] == "apple" and body["product_id"] and body["expires_at"]
    assert client.call("POST", "/api/v1/process/doctor-report", REPORT, token=token)[0] == 202
    assert notify(client, "apple", user_id, "DID_FAIL_TO_RENEW", subtype="GRACE_PERIOD")[0] == 200
    assert plan(client, token) == ("premium", "grace_period")
    assert client.call("POST", "/api/v1/process/doctor-report", REPORT, token=token)[0] == 202
    assert notify(client, "apple", user_id, "EXPIRED")[0] == 200
    assert plan(client, token) == ("free", "expired")
    status, body = client.call("POST", "/api/v1/process/doctor-report", REPORT, token=token)
    assert (status, body["error"]["code"]) == (403, "premium_required")
    assert client.call("GET", "/api/v1/user/profile", token=token)[1]["subscription"]["type"] == "free"


@pytest.mark.parametrize("code, expected", [(4, ("premium", "active")), (6, ("premium", "grace_period")),
                                            (3, ("premium", "active")), (5, ("free", "expired")),
                                            (13, ("free", "expired")), (12, ("free", "revoked"))])
def test_google_play_notifications(client, code, expected):
    user_id, token = new_user(client, f"play-{code}")
    assert notify(client, "google", user_id, code)[1]["outcome"] == "applied"
    assert plan(client, token) == expected


def test_a_repeated_notification_is_processed_once(client, stack):
    user_id, token = new_user(client, "repeat")
    body = stack.store.apple_notification(user_id, "SUBSCRIBED", "health.serenya.premium.monthly")
    first = client.call("POST", "/api/v1/subscriptions/webhook", body)
    # The user cancels meanwhile; a late re-delivery of SUBSCRIBED must not change anything.
    assert notify(client, "apple", user_id, "EXPIRED")[1]["outcome"] == "applied"
    again = client.call("POST", "/api/v1/subscriptions/webhook", body)
    assert first == again == (200, {"status": "accepted", "outcome": "applied"})  # the recorded answer
    assert plan(client, token) == ("free", "expired")
    items = boto3.resource("dynamodb", endpoint_url=stack.aws_endpoint_url, region_name="eu-west-1",
                           aws_access_key_id="local", aws_secret_access_key="local").Table("serenya-dev").scan()["Items"]
    assert any(i["PK"] == "IDEMPOTENCY#subscriptions" and i.get("ttl") for i in items)


def test_out_of_order_notifications_never_move_backwards(client, stack):
    user_id, token = new_user(client, "reordered")
    now = int(time.time() * 1000)
    older = stack.store.apple_notification(user_id, "SUBSCRIBED", "health.serenya.premium.monthly",
                                           signed_ms=now - 60_000)
    newer = stack.store.apple_notification(user_id, "EXPIRED", "health.serenya.premium.monthly", signed_ms=now)
    assert client.call("POST", "/api/v1/subscriptions/webhook", newer)[1]["outcome"] == "applied"
    assert client.call("POST", "/api/v1/subscriptions/webhook", older)[1]["outcome"] == "stale"
    assert plan(client, token) == ("free", "expired")


def test_unknown_users_and_products_are_accepted_and_change_nothing(client):
    assert notify(client, "apple", "00000000-0000-0000-0000-000000000000", "SUBSCRIBED")[1]["outcome"] == "unknown_user"
    user_id, token = new_user(client, "odd-product")
    assert notify(client, "google", user_id, 4, product_id="coins.100")[1]["outcome"] == "unknown_product"
    assert plan(client, token) == ("free", "active")


@pytest.mark.parametrize("store, kind", [("apple", "RENEWED"), ("apple", "subscribed"), ("google", 14),
                                         ("google", 0), ("google", 99)])
def test_the_store_simulator_refuses_a_notification_type_its_store_does_not_define(client, store, kind):
    """A typo must not pass for a notification that changed nothing: 400, naming it."""
    user_id, token = new_user(client, f"typo-{store}-{kind}")
    status, body = notify(client, store, user_id, kind)
    assert (status, body["error"]["code"]) == (400, "unknown_notification_type")
    assert repr(kind) in body["error"]["message"]
    assert plan(client, token) == ("free", "active")


def test_apple_test_notification_is_accepted(client, stack):
    test = {"signedPayload": stack.store.apple.sign({"notificationType": "TEST", "notificationUUID": "t-1",
                                                     "signedDate": int(time.time() * 1000), "data": {}})}
    assert client.call("POST", "/api/v1/subscriptions/webhook", test) == (200, {"status": "accepted",
                                                                              "outcome": "no_change"})


def test_forged_notifications_are_refused_and_change_nothing(client, stack):
    user_id, token = new_user(client, "forgery-target")
    forger = AppleChain.generate()
    store = stack.store
    signed = store.apple_notification(user_id, "SUBSCRIBED", "health.serenya.premium.monthly")["signedPayload"]
    header, payload, signature = signed.split(".")
    google_body, google_headers = store.google_notification(user_id, 4, "health.serenya.premium.monthly")
    wrong_audience = stack.identity.id_token("google", "pubsub", email=store.pubsub_account, audience="https://x.y")
    cases = [
        ({"signedPayload": forger.sign({"notificationType": "SUBSCRIBED", "notificationUUID": "f",
                                        "signedDate": int(time.time() * 1000), "data": {}})}, {}, 401),
        ({"signedPayload": f"{header}.{payload[:-4]}AAAA.{signature}"}, {}, 400),
        ({"signedPayload": f"{header}.{payload}.{signature[:-4]}AAAA"}, {}, 401),
        ({"signedPayload": "not-a-jws"}, {}, 400),
        ({"unexpected": True}, {}, 400),
        (google_body, {}, 401),
        (google_body, {"Authorization": f"Bearer {wrong_audience}"}, 401),
        (google_body, {"Authorization": "Bearer garbage"}, 401),
    ]
    for body, headers, expected in cases:
        status, answer = client.call("POST", "/api/v1/subscriptions/webhook", body, headers=headers)
        assert status == expected, (status, answer)
        assert answer["error"]["code"] in ("invalid_signature", "invalid_notification")
    assert client.call("POST", "/api/v1/subscriptions/webhook", raw=b"{nope")[0] == 400
    assert plan(client, token) == ("free", "active")


# -- Google Play: acknowledgement, linked purchases, tokens Google no longer knows -------------

MONTHLY, YEARLY = "health.serenya.premium.monthly", "health.serenya.premium.yearly"


def deliver(client, stack, user_id, kind, product=MONTHLY, **options):
    body, headers = stack.store.google_notification(user_id, kind, product, **options)
    return client.call("POST", "/api/v1/subscriptions/webhook", body, headers=headers)


def entries(stack, user_id):
    table = boto3.resource("dynamodb", endpoint_url=stack.aws_endpoint_url, region_name="eu-west-1",
                           aws_access_key_id="local", aws_secret_access_key="local").Table("serenya-dev")
    item = table.get_item(Key=accounts.profile_key(user_id)).get("Item") or {}
    return item.get("subscriptions") or {}


def test_a_google_purchase_is_acknowledged_once_it_is_recorded(client, stack):
    """Google refunds a purchase not acknowledged within three days
    (https://developer.android.com/google/play/billing/integrate#process): the server
    acknowledges it (purchases.subscriptions.acknowledge) when subscriptionsv2 reports
    ACKNOWLEDGEMENT_STATE_PENDING; a redelivery or a later event about an acknowledged purchase
    does not acknowledge again (Google would answer 400 invalidPurchaseState) and succeeds."""
    user_id, token = new_user(client, "play-ack")
    purchase_token = stack.store.purchase_token(user_id, MONTHLY)
    body, headers = stack.store.google_notification(user_id, 4, MONTHLY)
    assert client.call("POST", "/api/v1/subscriptions/webhook", body, headers=headers)[1]["outcome"] == "applied"
    assert stack.store.acknowledgements.count(purchase_token) == 1
    assert client.call("POST", "/api/v1/subscriptions/webhook", body, headers=headers)[0] == 200  # redelivered
    assert deliver(client, stack, user_id, 2) == (200, {"status": "accepted", "outcome": "applied"})  # renewed
    assert stack.store.acknowledgements.count(purchase_token) == 1
    assert plan(client, token) == ("premium", "active")


def test_a_purchase_nobody_holds_is_not_acknowledged(client, stack):
    """Unknown user or product: nothing granted, so Google may refund it."""
    stranger = "00000000-0000-0000-0000-00000000a11e"
    assert deliver(client, stack, stranger, 4)[1]["outcome"] == "unknown_user"
    user_id, _ = new_user(client, "play-odd-product")
    assert deliver(client, stack, user_id, 4, product="coins.100")[1]["outcome"] == "unknown_product"
    assert {stack.store.purchase_token(stranger, MONTHLY),
            stack.store.purchase_token(user_id, "coins.100")}.isdisjoint(stack.store.acknowledgements)


def test_an_upgrade_ends_the_purchase_it_replaces(client, stack):
    """subscriptionsv2's linkedPurchaseToken names the purchase an upgrade, downgrade or
    re-signup replaces
    (https://developers.google.com/android-publisher/api-ref/rest/v3/purchases.subscriptionsv2):
    its entry ends, and no later notification about the old token makes it active again."""
    user_id, token = new_user(client, "play-upgrade")
    old_token = stack.store.purchase_token(user_id, MONTHLY)
    assert deliver(client, stack, user_id, 4)[1]["outcome"] == "applied"
    assert deliver(client, stack, user_id, 4, product=YEARLY, linked_purchase_token=old_token)[1]["outcome"] == \
        "applied"
    status, body = client.call("GET", "/api/v1/subscriptions", token=token)
    assert (body["type"], body["status"], body["product_id"]) == ("premium", "active", YEARLY)
    recorded = entries(stack, user_id)
    active = [e for e in recorded.values() if e["type"] == "premium"]
    assert [e["product_id"] for e in active] == [YEARLY]
    old = next(e for e in recorded.values() if e["product_id"] == MONTHLY)
    assert (old["type"], old["status"]) == ("free", "expired") and old["replaced_by"]
    # A late notification about the old token (Play reports it active again in this stand-in):
    stack.store.google_notification(user_id, 2, MONTHLY)
    assert deliver(client, stack, user_id, 2)[1]["outcome"] == "superseded"
    assert [e["product_id"] for e in entries(stack, user_id).values() if e["type"] == "premium"] == [YEARLY]


def test_a_purchase_google_no_longer_knows_is_answered_200_and_counted(client, stack):
    """404 purchaseTokenNotFound and 410 purchaseTokenNoLongerValid are permanent: 200
    (outcome unknown_purchase, counted in Notifications), not 503 that Pub/Sub retries for days."""
    user_id, token = new_user(client, "play-gone")
    body, headers = stack.store.google_notification(user_id, 13, MONTHLY)
    stack.store.forget(user_id, MONTHLY)  # 410 from now on
    assert client.call("POST", "/api/v1/subscriptions/webhook", body, headers=headers) == (
        200, {"status": "accepted", "outcome": "unknown_purchase"})
    assert plan(client, token) == ("free", "active")
