"""Store notifications whose decoded fields are hostile: every one is refused with
InvalidNotification (a 400 or 401 at the webhook), never another exception (a 5xx).

Apple: ResponseBodyV2DecodedPayload, JWSTransactionDecodedPayload and
JWSRenewalInfoDecodedPayload (https://developer.apple.com/documentation/appstoreservernotifications/responsebodyv2decodedpayload):
`signedDate`, `expiresDate`, `gracePeriodExpiresDate` are UNIX times in milliseconds
(integers); `notificationType`, `subtype`, `notificationUUID`, `productId`,
`appAccountToken`, `originalTransactionId` strings. Google: the RTDN DeveloperNotification
(https://developer.android.com/google/play/billing/rtdn-reference): `eventTimeMillis` a
long (a string of digits in JSON), `subscriptionNotification.notificationType` an int,
`purchaseToken` a string, the message data base64 JSON."""

import base64
import json
import time

import pytest

from functions.subscriptions import apple, google
from local.store import AppleChain

BUNDLE, ENV, PACKAGE = "health.serenya.app", "Production", "health.serenya.app"
NOW = int(time.time() * 1000)
HOSTILE_NUMBERS = [1e300, 10 ** 30, -10 ** 15, -1, float("nan"), float("inf"), 1.5, True, "1700000000000",
                   None, {"$gt": 0}, [NOW]]


@pytest.fixture(scope="module")
def chain():
    return AppleChain.generate()


def signed(chain, payload_changes=None, transaction_changes=None, renewal_changes=None, drop=()):
    transaction = {"bundleId": BUNDLE, "productId": "p", "appAccountToken": "u", "expiresDate": NOW + 10_000,
                   "signedDate": NOW, "originalTransactionId": "o", **(transaction_changes or {})}
    renewal = {"signedDate": NOW, "gracePeriodExpiresDate": NOW + 5000, **(renewal_changes or {})}
    payload = {"notificationType": "SUBSCRIBED", "notificationUUID": "n-1", "signedDate": NOW,
               "data": {"bundleId": BUNDLE, "environment": ENV, "signedTransactionInfo": chain.sign(transaction),
                        "signedRenewalInfo": chain.sign(renewal)}, **(payload_changes or {})}
    for name in drop:
        payload.pop(name)
    return {"signedPayload": chain.sign(payload)}


def reason(body, root):
    with pytest.raises(apple.InvalidNotification) as e:
        apple.decode(body, root, BUNDLE, ENV, now_ms=NOW)
    return e.value.reason


@pytest.mark.parametrize("value", HOSTILE_NUMBERS + [NOW + 2 * 86_400_000, NOW - 181 * 86_400_000])
def test_a_hostile_signed_date_is_malformed_under_a_trusted_chain(chain, value):
    """signedDate: an integer count of milliseconds, within 180 days back (Get Notification
    History's reach) and an hour ahead. 1e300, 10**30 and -10**15 were OverflowErrors (500)."""
    assert reason(signed(chain, {"signedDate": value}), chain.root_sha256) == "malformed"


@pytest.mark.parametrize("value", [1e300, 10 ** 30, -10 ** 15, "x"])
def test_an_untrusted_chain_is_refused_before_any_field_is_read(chain, value):
    """The chain is checked before signedDate is used: a self-made chain is untrusted_root
    (401) whatever its payload says."""
    forger = AppleChain.generate()
    assert reason(signed(forger, {"signedDate": value}), chain.root_sha256) == "untrusted_root"


def test_a_nested_transactions_hostile_signed_date_is_malformed(chain):
    assert reason(signed(chain, transaction_changes={"signedDate": 1e300}), chain.root_sha256) == "malformed"
    assert reason(signed(chain, renewal_changes={"signedDate": -10 ** 15}), chain.root_sha256) == "malformed"


@pytest.mark.parametrize("field", ["expiresDate"])
@pytest.mark.parametrize("value", [v for v in HOSTILE_NUMBERS if v is not None] + [253_402_300_800_000])
def test_hostile_transaction_dates_are_malformed(chain, field, value):
    """expiresDate is stored as an ISO date: 1e300 or NaN could not be converted (500)."""
    assert reason(signed(chain, transaction_changes={field: value}), chain.root_sha256) == "malformed"


@pytest.mark.parametrize("value", [v for v in HOSTILE_NUMBERS if v is not None])
def test_hostile_grace_period_dates_are_malformed(chain, value):
    assert reason(signed(chain, renewal_changes={"gracePeriodExpiresDate": value}), chain.root_sha256) == "malformed"


@pytest.mark.parametrize("field", ["productId", "appAccountToken", "originalTransactionId"])
@pytest.mark.parametrize("value", [5, True, {"a": 1}, ["p"], "", "x" * 100_000])
def test_hostile_transaction_strings_are_malformed(chain, field, value):
    """A product id that is a dict was a TypeError (unhashable) in the premium-product test."""
    assert reason(signed(chain, transaction_changes={field: value}), chain.root_sha256) == "malformed"


@pytest.mark.parametrize("changes", [
    {"notificationType": 5}, {"notificationType": None}, {"notificationType": {"x": 1}},
    {"subtype": 7}, {"subtype": ["GRACE_PERIOD"]}, {"notificationUUID": 12}, {"notificationUUID": ""},
    {"notificationUUID": "u" * 10_000}, {"data": "x"}, {"data": []},
    {"data": {"bundleId": BUNDLE, "environment": ENV, "signedTransactionInfo": {"nested": True}}},
    {"data": {"bundleId": BUNDLE, "environment": ENV, "signedRenewalInfo": 12}},
])
def test_hostile_notification_fields_are_malformed(chain, changes):
    assert reason(signed(chain, changes), chain.root_sha256) == "malformed"


def test_a_missing_signed_date_or_uuid_is_malformed(chain):
    assert reason(signed(chain, drop=("signedDate",)), chain.root_sha256) == "malformed"
    assert reason(signed(chain, drop=("notificationUUID",)), chain.root_sha256) == "malformed"


def test_a_transaction_without_its_original_transaction_id_is_malformed(chain):
    """originalTransactionId keys the user's entry for the subscription; the webhook fuzz
    found that without it the entry fell back to the product id (a second entry)."""
    assert reason(signed(chain, transaction_changes={"originalTransactionId": None}), chain.root_sha256) == "malformed"


def test_undocumented_types_and_subtypes_are_processed_as_unknown(chain):
    """Apple adds types (NotificationTypeV2): an unknown one is accepted and changes nothing,
    and metrics only ever see documented values or UNKNOWN."""
    n = apple.decode(signed(chain, {"notificationType": "X" * 5000, "subtype": "Y" * 5000}), chain.root_sha256,
                     BUNDLE, ENV, now_ms=NOW)
    assert (n.type, n.subtype) == ("UNKNOWN", "UNKNOWN")
    n = apple.decode(signed(chain, {"subtype": "GRACE_PERIOD"}), chain.root_sha256, BUNDLE, ENV, now_ms=NOW)
    assert (n.type, n.subtype, n.expires_ms, n.grace_expires_ms) == ("SUBSCRIBED", "GRACE_PERIOD", NOW + 10_000,
                                                                     NOW + 5000)


# -- Google ------------------------------------------------------------------------------

def push(data=None, raw_data=None, message_changes=None):
    document = {"version": "1.0", "packageName": PACKAGE, "eventTimeMillis": str(NOW),
                "subscriptionNotification": {"version": "1.0", "notificationType": 4, "purchaseToken": "tok",
                                             "subscriptionId": "p"}}
    document.update(data or {})
    encoded = raw_data if raw_data is not None else base64.b64encode(json.dumps(document).encode()).decode()
    return {"message": {"data": encoded, "messageId": "m-1", **(message_changes or {})}, "subscription": "s"}


def google_reason(body):
    with pytest.raises(apple.InvalidNotification) as e:
        google.decode(body, PACKAGE, now_ms=NOW)
    return e.value.reason


def test_a_good_rtdn_decodes():
    n = google.decode(push(), PACKAGE, now_ms=NOW)
    assert (n.type, n.event_ms, n.purchase_token, n.subscription_id) == (4, NOW, "tok", "p")


@pytest.mark.parametrize("value", ["1e300", "-5", " 17", "17.0", "0x10", "1" * 40, 1e300, float("nan"), True,
                                   None, {"ms": 1}, str(NOW + 2 * 86_400_000), str(NOW - 181 * 86_400_000), "١٢٣"])
def test_hostile_event_times_are_malformed(value):
    """eventTimeMillis: a long, written as a string of ASCII digits, in a sane window."""
    assert google_reason(push({"eventTimeMillis": value})) == "malformed"


@pytest.mark.parametrize("notification", [
    {"notificationType": "4", "purchaseToken": "t"}, {"notificationType": 4.0, "purchaseToken": "t"},
    {"notificationType": True, "purchaseToken": "t"}, {"notificationType": 1e300, "purchaseToken": "t"},
    {"notificationType": -1, "purchaseToken": "t"}, {"notificationType": 10 ** 30, "purchaseToken": "t"},
    {"notificationType": 4}, {"notificationType": 4, "purchaseToken": {"t": 1}},
    {"notificationType": 4, "purchaseToken": ""}, {"notificationType": 4, "purchaseToken": "t" * 10_000},
    {"notificationType": 4, "purchaseToken": "t", "subscriptionId": 5}, [], "x", 7,
])
def test_hostile_subscription_notifications_are_malformed(notification):
    """notificationType "abc" was a ValueError and a list an AttributeError (500s)."""
    assert google_reason(push({"subscriptionNotification": notification})) == "malformed"


@pytest.mark.parametrize("body", [
    push(raw_data="%%%"), push(raw_data=base64.b64encode(b"[1, 2]").decode()),
    push(raw_data=base64.b64encode(b"NaN").decode()), push(raw_data=5), push(raw_data="A" * 100_000),
    push(message_changes={"messageId": 5}), push(message_changes={"messageId": ""}),
    push({"version": 2}), push({"subscriptionNotification": None}),
])
def test_hostile_messages_are_refused(body):
    assert google_reason(body) in ("malformed", "wrong_package")


@pytest.mark.parametrize("kind", ["testNotification", "oneTimeProductNotification", "voidedPurchaseNotification"])
def test_documented_kinds_this_service_does_not_sell_change_nothing(kind):
    """Accepted (so Pub/Sub stops delivering them) without a purchase to look up."""
    n = google.decode(push({"subscriptionNotification": None, kind: {"version": "1.0"}}), PACKAGE, now_ms=NOW)
    assert (n.type, n.purchase_token) == (0, None)


def test_undocumented_google_types_are_labelled_unknown():
    assert [google.type_label(t) for t in (0, 4, 13, 22, 14, 99, 2 ** 30)] == ["0", "4", "13", "22", "unknown",
                                                                            "unknown", "unknown"]
