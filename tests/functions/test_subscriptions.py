"""Store notification verification with generated certificate chains, and state mapping."""

import base64
import dataclasses
import json
import time
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from functions.subscriptions import apple, state
from local.store import INTERMEDIATE_OID, LEAF_OID, AppleChain, certificate

BUNDLE, ENV = "health.serenya.app", "Production"


@pytest.fixture(scope="module")
def chain():
    return AppleChain.generate()


def notification(chain, **changes):
    now = int(time.time() * 1000)
    transaction = {"bundleId": BUNDLE, "productId": "p", "appAccountToken": "u", "expiresDate": now + 10_000,
                   "signedDate": now, "originalTransactionId": "o"}
    payload = {"notificationType": "SUBSCRIBED", "notificationUUID": "n-1", "signedDate": now,
               "data": {"bundleId": BUNDLE, "environment": ENV, "signedTransactionInfo": chain.sign(transaction)}}
    payload.update(changes)
    return {"signedPayload": chain.sign(payload)}


def reason(body, root):
    with pytest.raises(apple.InvalidNotification) as e:
        apple.decode(body, root, BUNDLE, ENV)
    return e.value.reason


def test_a_good_chain_decodes(chain):
    n = apple.decode(notification(chain), chain.root_sha256, BUNDLE, ENV)
    assert (n.type, n.user_id, n.product_id, n.notification_id) == ("SUBSCRIBED", "u", "p", "n-1")


def test_another_root_is_not_trusted(chain):
    other = AppleChain.generate()
    assert reason(notification(other), chain.root_sha256) == "untrusted_root"


def chain_without(oid_missing: str) -> AppleChain:
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    root = certificate("R", keys[0], ca=True)
    intermediate = certificate("I", keys[1], ("R", keys[0]), ca=True,
                               oid=None if oid_missing == "intermediate" else INTERMEDIATE_OID)
    leaf = certificate("L", keys[2], ("I", keys[1]), oid=None if oid_missing == "leaf" else LEAF_OID)
    return AppleChain(keys[2], [leaf, intermediate, root])


@pytest.mark.parametrize("missing", ["leaf", "intermediate"])
def test_apple_oids_are_required(missing):
    bad = chain_without(missing)
    assert reason(notification(bad), bad.root_sha256) == "missing_apple_oid"


def test_a_leaf_not_issued_by_the_intermediate(chain):
    stranger_key = ec.generate_private_key(ec.SECP256R1())
    rogue_leaf = certificate("L", stranger_key, ("Local Apple WWDR CA", stranger_key), oid=LEAF_OID)
    forged = AppleChain(stranger_key, [rogue_leaf, *chain.certificates[1:]])
    assert reason(notification(forged), chain.root_sha256) == "bad_chain"


def test_a_short_chain(chain):
    short = AppleChain(chain.leaf_key, chain.certificates[:2])
    assert reason(notification(short), chain.root_sha256) == "bad_chain"


def test_certificates_must_be_valid_at_the_signed_date():
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    old = datetime.now(timezone.utc) - timedelta(days=400)
    root = certificate("R", keys[0], ca=True, days=800, not_before=old)
    intermediate = certificate("I", keys[1], ("R", keys[0]), ca=True, oid=INTERMEDIATE_OID, days=800, not_before=old)
    leaf = certificate("L", keys[2], ("I", keys[1]), oid=LEAF_OID, days=30, not_before=old)  # expired long ago
    expired = AppleChain(keys[2], [leaf, intermediate, root])
    assert reason(notification(expired), expired.root_sha256) == "certificate_expired"


def test_a_tampered_payload(chain):
    header, payload, signature = notification(chain)["signedPayload"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["notificationType"] = "REFUND"
    forged = f"{header}.{base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b'=').decode()}.{signature}"
    assert reason({"signedPayload": forged}, chain.root_sha256) == "bad_signature"


def test_a_nested_transaction_from_another_chain(chain):
    other = AppleChain.generate()
    now = int(time.time() * 1000)
    inner = other.sign({"bundleId": BUNDLE, "productId": "p", "appAccountToken": "u", "signedDate": now})
    body = notification(chain, data={"bundleId": BUNDLE, "environment": ENV, "signedTransactionInfo": inner})
    assert reason(body, chain.root_sha256) == "untrusted_root"


@pytest.mark.parametrize("changes, expected", [
    ({"data": {"bundleId": "com.other.app", "environment": ENV}}, "wrong_bundle"),
    ({"data": {"bundleId": BUNDLE, "environment": "Sandbox"}}, "wrong_environment"),
])
def test_wrong_app_or_environment(chain, changes, expected):
    assert reason(notification(chain, **changes), chain.root_sha256) == expected


@pytest.mark.parametrize("body", [{}, {"signedPayload": 5}, {"signedPayload": "a.b.c"}, [],
                                  {"signedPayload": jwt.encode({"signedDate": 1}, "k" * 32, algorithm="HS256")}])
def test_garbage_is_malformed(chain, body):
    assert reason(body, chain.root_sha256) == "malformed"


def test_test_notifications_change_nothing(chain):
    n = apple.decode(notification(chain, notificationType="TEST", data={}), chain.root_sha256, BUNDLE, ENV)
    assert state.from_apple(n, int(time.time() * 1000)) is None


NOW = 1_800_000_000_000


def apple_event(kind, subtype=None, expires=NOW + 1000):
    return apple.AppleNotification("n", kind, subtype, NOW, ENV, BUNDLE, "u", "p", expires, NOW + 5000, "o")


@pytest.mark.parametrize("kind, subtype, expected", [
    ("SUBSCRIBED", None, ("premium", "active")), ("DID_RENEW", None, ("premium", "active")),
    ("DID_FAIL_TO_RENEW", "GRACE_PERIOD", ("premium", "grace_period")),
    ("DID_FAIL_TO_RENEW", None, ("free", "expired")), ("GRACE_PERIOD_EXPIRED", None, ("free", "expired")),
    ("EXPIRED", "VOLUNTARY", ("free", "expired")), ("REFUND", None, ("free", "revoked")),
    ("REVOKE", None, ("free", "revoked")), ("CONSUMPTION_REQUEST", None, None), ("TEST", None, None),
])
def test_apple_states(kind, subtype, expected):
    plan = state.from_apple(apple_event(kind, subtype), NOW)
    assert (None if plan is None else (plan["type"], plan["status"])) == expected


def test_a_renewal_already_past_its_expiry_is_not_premium():
    assert state.from_apple(apple_event("DID_RENEW", expires=NOW - 1), NOW)["type"] == "free"


def purchase(state_name, expires_ms=NOW + 1000):
    iso = datetime.fromtimestamp(expires_ms / 1000, timezone.utc).isoformat().replace("+00:00", "Z")
    return {"subscriptionState": state_name, "lineItems": [{"productId": "p", "expiryTime": iso}]}


@pytest.mark.parametrize("code, state_name, expires, expected", [
    (4, "SUBSCRIPTION_STATE_ACTIVE", NOW + 1000, ("premium", "active")),
    (6, "SUBSCRIPTION_STATE_IN_GRACE_PERIOD", NOW + 1000, ("premium", "grace_period")),
    (3, "SUBSCRIPTION_STATE_CANCELED", NOW + 1000, ("premium", "active")),   # paid until expiry
    (3, "SUBSCRIPTION_STATE_CANCELED", NOW - 1000, ("free", "expired")),
    (5, "SUBSCRIPTION_STATE_ON_HOLD", NOW - 1000, ("free", "expired")),
    (13, "SUBSCRIPTION_STATE_EXPIRED", NOW - 1000, ("free", "expired")),
    (12, "SUBSCRIPTION_STATE_EXPIRED", NOW - 1000, ("free", "revoked")),
    (20, "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED", NOW, None),
])
def test_google_states(code, state_name, expires, expected):
    plan = state.from_google(code, purchase(state_name, expires), NOW, NOW)
    assert (None if plan is None else (plan["type"], plan["status"])) == expected


# -- billing: what the revenue estimate reads (analytics_queries/sql/revenue_by_month.sql) -----

def priced(kind, price=9990, currency="EUR"):
    return dataclasses.replace(apple_event(kind), price_milli=price, currency=currency)


@pytest.mark.parametrize("kind, stamp", [("SUBSCRIBED", "charged_ms"), ("DID_RENEW", "charged_ms"),
                                         ("OFFER_REDEEMED", "charged_ms"), ("REFUND", "refunded_ms")])
def test_apple_billing_and_refunds_are_stamped_with_the_price_apple_sent(kind, stamp):
    plan = state.from_apple(priced(kind), NOW)
    assert (plan[stamp], plan["price_milli"], plan["currency"]) == (NOW, 9990, "EUR")
    assert {"charged_ms", "refunded_ms"} & set(plan) == {stamp}


@pytest.mark.parametrize("kind", ["DID_CHANGE_RENEWAL_STATUS", "EXPIRED", "REVOKE", "DID_FAIL_TO_RENEW"])
def test_notifications_that_move_no_money_are_not_billed(kind):
    plan = state.from_apple(priced(kind), NOW)
    assert not {"charged_ms", "refunded_ms", "price_milli"} & set(plan)


def test_apples_transaction_price_is_read_in_milli_units_and_checked():
    """JWSTransactionDecodedPayload: `price` in milli-units of `currency` (ISO 4217);
    https://developer.apple.com/documentation/appstoreservernotifications/jwstransactiondecodedpayload"""
    assert apple._price({"price": 12990, "currency": "USD"}) == (12990, "USD")
    for bad in ({"price": "12990", "currency": "USD"}, {"price": -1, "currency": "USD"}, {"price": True,
                "currency": "USD"}, {"price": 12990, "currency": "usd"}, {"price": 12990}, {}):
        assert apple._price(bad) == (None, None), bad


def test_a_decoded_notification_carries_its_transactions_price(chain):
    body = notification(chain, data={"bundleId": BUNDLE, "environment": ENV, "signedTransactionInfo": chain.sign(
        {"bundleId": BUNDLE, "productId": "p", "appAccountToken": "u", "originalTransactionId": "o",
         "expiresDate": NOW, "price": 9990, "currency": "EUR", "signedDate": NOW})})
    n = apple.decode(body, chain.root_sha256, BUNDLE, ENV, now_ms=NOW)  # the transaction was signed at NOW
    assert (n.price_milli, n.currency) == (9990, "EUR")


def test_google_billing_is_stamped_with_the_recurring_price_when_play_sends_one():
    bought = purchase("SUBSCRIPTION_STATE_ACTIVE")
    assert state.from_google(4, bought, NOW, NOW)["charged_ms"] == NOW
    assert "price_milli" not in state.from_google(4, bought, NOW, NOW)  # the list price applies
    bought["lineItems"][0]["autoRenewingPlan"] = {"recurringPrice": {"currencyCode": "EUR", "units": "9",
                                                                     "nanos": 990000000}}
    assert (lambda p: (p["charged_ms"], p["price_milli"], p["currency"]))(state.from_google(2, bought, NOW, NOW)) == (
        NOW, 9990, "EUR")
    assert state.from_google(12, purchase("SUBSCRIPTION_STATE_EXPIRED", NOW - 1), NOW, NOW)["refunded_ms"] == NOW
    assert not {"charged_ms", "refunded_ms"} & set(state.from_google(3, bought, NOW, NOW))  # cancelled: no money
