"""App Store Server Notifications V2: verification and decoding.

A notification is a JWS whose `x5c` header carries the signing chain, leaf first. It is
trusted when: the chain has three certificates; each is signed by the next and valid
at the notification's signed date; the leaf carries Apple's App Store receipt-signing
OID and the intermediate Apple's WWDR intermediate OID; the root is self-signed and is
exactly the pinned root (SHA-256 of Apple Root CA - G3, from stack config; the local
stack pins its own test root); and the JWS verifies with the leaf's key (ES256). The
nested signed transaction and renewal info are verified the same way.

Nothing a JWS says is used before its signature is checked: first the chain, with no
date from the payload (the pinned root, Apple's OIDs, each certificate signed by the
next), then the JWS against the leaf's key, and only then the verified `signedDate` (an
integer count of milliseconds in a sane window) picks the date the certificates must be
valid at. Every field the code reads is then checked for the type and range Apple
documents: a value outside them is `malformed` (400), never an exception (a 5xx).
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeGuard

from functions.common import safejson

if TYPE_CHECKING:
    from cryptography import x509

# PyJWT and cryptography's X.509 are imported by the calls that verify a notification:
# the subscriptions function's GET route and Google's notifications never load them.
LEAF_OID = "1.2.840.113635.100.6.11.1"  # dotted strings: ObjectIdentifier when checked
INTERMEDIATE_OID = "1.2.840.113635.100.6.2.1"

# The notification types and subtypes Apple documents (NotificationTypeV2 and Subtype in
# apple/app-store-server-library-python 3.1.1, appstoreserverlibrary/models/;
# https://developer.apple.com/documentation/appstoreservernotifications/notificationtype
# and .../subtype). Any other value is one Apple added since: it is processed as UNKNOWN
# (which changes nothing), so metrics and logs only ever carry these bounded values.
NOTIFICATION_TYPES = frozenset(
    {
        "SUBSCRIBED",
        "DID_CHANGE_RENEWAL_PREF",
        "DID_CHANGE_RENEWAL_STATUS",
        "OFFER_REDEEMED",
        "DID_RENEW",
        "EXPIRED",
        "DID_FAIL_TO_RENEW",
        "GRACE_PERIOD_EXPIRED",
        "PRICE_INCREASE",
        "REFUND",
        "REFUND_DECLINED",
        "CONSUMPTION_REQUEST",
        "RENEWAL_EXTENDED",
        "REVOKE",
        "TEST",
        "RENEWAL_EXTENSION",
        "REFUND_REVERSED",
        "EXTERNAL_PURCHASE_TOKEN",
        "ONE_TIME_CHARGE",
        "RESCIND_CONSENT",
        "METADATA_UPDATE",
        "MIGRATION",
        "PRICE_CHANGE",
    }
)
SUBTYPES = frozenset(
    {
        "INITIAL_BUY",
        "RESUBSCRIBE",
        "DOWNGRADE",
        "UPGRADE",
        "AUTO_RENEW_ENABLED",
        "AUTO_RENEW_DISABLED",
        "VOLUNTARY",
        "BILLING_RETRY",
        "PRICE_INCREASE",
        "GRACE_PERIOD",
        "PENDING",
        "ACCEPTED",
        "BILLING_RECOVERY",
        "PRODUCT_NOT_FOR_SALE",
        "SUMMARY",
        "FAILURE",
        "UNREPORTED",
    }
)
UNKNOWN = "UNKNOWN"
# signedDate, like every date Apple signs, is "the UNIX time, in milliseconds", an integer
# (https://developer.apple.com/documentation/appstoreservernotifications/signeddate). Apple
# retries an unanswered notification for about a week and Get Notification History reaches
# 180 days back (https://developer.apple.com/documentation/appstoreservernotifications/responding-to-app-store-server-notifications,
# https://developer.apple.com/documentation/appstoreserverapi/get-notification-history):
# nothing Apple delivers is older; an hour of clock skew is allowed ahead.
SIGNED_DATE_MAX_AGE_MS = 180 * 86_400_000
SIGNED_DATE_MAX_SKEW_MS = 3_600_000
# Dates that are stored and turned into ISO strings (expiresDate, gracePeriodExpiresDate):
# within what datetime represents (1970..9999), so no value can overflow a conversion.
MAX_DATE_MS = 253_402_300_799_999
MAX_ID_CHARS = 256  # ids and product ids; Apple's are far shorter. Bounds what is stored.


class InvalidNotification(Exception):
    """Refused; `reason` is a fixed code for metrics and the error answer."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _has_extension(cert: x509.Certificate, oid: str) -> bool:
    from cryptography import x509
    from cryptography.x509.oid import ObjectIdentifier

    try:
        cert.extensions.get_extension_for_oid(ObjectIdentifier(oid))
        return True
    except x509.ExtensionNotFound:
        return False


def _verify_chain(chain: list[x509.Certificate], root_sha256: str) -> None:
    """The chain's structure and signatures: nothing here depends on the payload."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import ExtensionOID

    if len(chain) != 3:
        raise InvalidNotification("bad_chain")
    leaf, intermediate, root = chain
    if hashlib.sha256(root.public_bytes(Encoding.DER)).hexdigest() != root_sha256.lower().replace(":", ""):
        raise InvalidNotification("untrusted_root")
    if not _has_extension(leaf, LEAF_OID) or not _has_extension(intermediate, INTERMEDIATE_OID):
        raise InvalidNotification("missing_apple_oid")
    try:
        basic = intermediate.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value
    except x509.ExtensionNotFound:
        raise InvalidNotification("bad_chain") from None
    if not isinstance(basic, x509.BasicConstraints) or not basic.ca:
        raise InvalidNotification("bad_chain")
    try:
        root.verify_directly_issued_by(root)
        intermediate.verify_directly_issued_by(root)
        leaf.verify_directly_issued_by(intermediate)
    except (InvalidSignature, ValueError, TypeError):
        raise InvalidNotification("bad_chain") from None


def _check_validity(chain: list[x509.Certificate], at: datetime) -> None:
    for cert in chain:
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            raise InvalidNotification("certificate_expired")


def is_int(value: object) -> TypeGuard[int]:
    """A JSON integer: not a bool (a Python int) and not a float (1e300, NaN, 1.5)."""
    return isinstance(value, int) and not isinstance(value, bool)


def signed_date_ms(value, now_ms: int) -> int:
    """A verified signedDate, else `malformed` (see SIGNED_DATE_MAX_AGE_MS)."""
    if not is_int(value) or not now_ms - SIGNED_DATE_MAX_AGE_MS <= value <= now_ms + SIGNED_DATE_MAX_SKEW_MS:
        raise InvalidNotification("malformed")
    return value


def verify_jws(token, root_sha256: str, now_ms: int | None = None) -> dict:
    """The verified payload of one Apple-signed JWS: the chain, then the signature, then the
    certificates' validity at the (by then verified) signedDate."""
    import jwt
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    if not isinstance(token, str):
        raise InvalidNotification("malformed")
    try:
        safejson.check_jws(token)  # PyJWT parses both before any signature is checked
        header = jwt.get_unverified_header(token)
        # The format only (a JSON object): no field of it is read before the signature is checked.
        jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, safejson.UnsafeJson):
        raise InvalidNotification("malformed") from None
    if header.get("alg") != "ES256" or not isinstance(header.get("x5c"), list):
        raise InvalidNotification("malformed")
    try:
        chain = [x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in header["x5c"]]
    except (ValueError, TypeError):
        raise InvalidNotification("bad_chain") from None
    _verify_chain(chain, root_sha256)
    key = chain[0].public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):  # ES256 only: PyJWT would refuse any other key
        raise InvalidNotification("bad_signature")
    try:
        payload = jwt.decode(
            token,
            key,
            algorithms=["ES256"],
            options={
                "verify_aud": False,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_iss": False,
                "verify_sub": False,
                "verify_jti": False,
            },
        )
    except (jwt.InvalidSignatureError, jwt.InvalidKeyError, TypeError):  # or a leaf key that is not EC
        raise InvalidNotification("bad_signature") from None
    except jwt.PyJWTError:  # signed, but the payload is not a JSON object
        raise InvalidNotification("malformed") from None
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    at = datetime.fromtimestamp(signed_date_ms(payload.get("signedDate"), now_ms) / 1000, UTC)
    _check_validity(chain, at)
    return payload


@dataclass(frozen=True)
class AppleNotification:
    notification_id: str
    type: str
    subtype: str | None
    signed_ms: int
    environment: str | None
    bundle_id: str | None
    user_id: str | None  # appAccountToken, set by the app at purchase
    product_id: str | None
    expires_ms: int | None
    grace_expires_ms: int | None
    original_transaction_id: str | None
    # What the transaction cost: milli-units of `currency` (ISO 4217), as Apple sends them
    # (JWSTransactionDecodedPayload price/currency); None when absent or malformed.
    price_milli: int | None = None
    currency: str | None = None


def _price(transaction: dict) -> tuple[int | None, str | None]:
    price, currency = transaction.get("price"), transaction.get("currency")
    if (
        is_int(price)
        and 0 <= price < 10**12
        and isinstance(currency, str)
        and len(currency) == 3
        and currency.isascii()
        and currency.isupper()
    ):
        return price, currency
    return None, None


def _optional_str(record: dict, name: str) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS:
        raise InvalidNotification("malformed")
    return value


def _optional_date(record: dict, name: str) -> int | None:
    value = record.get(name)
    if value is None:
        return None
    if not is_int(value) or not 0 <= value <= MAX_DATE_MS:
        raise InvalidNotification("malformed")
    return value


def _optional_dict(record: dict, name: str) -> dict:
    value = record.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidNotification("malformed")
    return value


def decode(
    body: dict, root_sha256: str, bundle_id: str, environment: str, now_ms: int | None = None
) -> AppleNotification:
    """The notification, every field this code reads of the type Apple documents
    (ResponseBodyV2DecodedPayload, JWSTransactionDecodedPayload, JWSRenewalInfoDecodedPayload:
    https://developer.apple.com/documentation/appstoreservernotifications/responsebodyv2decodedpayload)."""
    signed = body.get("signedPayload") if isinstance(body, dict) else None
    if not isinstance(signed, str):
        raise InvalidNotification("malformed")
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    payload = verify_jws(signed, root_sha256, now_ms)
    data = _optional_dict(payload, "data")
    for nested in ("signedTransactionInfo", "signedRenewalInfo"):
        if data.get(nested) is not None and not isinstance(data[nested], str):
            raise InvalidNotification("malformed")
    transaction = (
        verify_jws(data["signedTransactionInfo"], root_sha256, now_ms) if data.get("signedTransactionInfo") else {}
    )
    renewal = verify_jws(data["signedRenewalInfo"], root_sha256, now_ms) if data.get("signedRenewalInfo") else {}
    kind, subtype = payload.get("notificationType"), payload.get("subtype")
    if not isinstance(kind, str) or not (subtype is None or isinstance(subtype, str)):
        raise InvalidNotification("malformed")
    if kind != "TEST":
        if data.get("bundleId") != bundle_id or transaction.get("bundleId", bundle_id) != bundle_id:
            raise InvalidNotification("wrong_bundle")
        if data.get("environment") != environment:
            raise InvalidNotification("wrong_environment")
    notification_id = _optional_str(payload, "notificationUUID")
    # A transaction always names its subscription (originalTransactionId), which keys the
    # user's entry: without it a notification could not be told apart from another.
    if notification_id is None or (transaction and _optional_str(transaction, "originalTransactionId") is None):
        raise InvalidNotification("malformed")
    price_milli, currency = _price(transaction)
    return AppleNotification(
        notification_id=notification_id,
        type=kind if kind in NOTIFICATION_TYPES else UNKNOWN,
        subtype=None if subtype is None else subtype if subtype in SUBTYPES else UNKNOWN,
        signed_ms=payload["signedDate"],  # checked by verify_jws
        environment=data.get("environment"),
        bundle_id=data.get("bundleId"),
        user_id=_optional_str(transaction, "appAccountToken"),
        product_id=_optional_str(transaction, "productId"),
        expires_ms=_optional_date(transaction, "expiresDate"),
        grace_expires_ms=_optional_date(renewal, "gracePeriodExpiresDate"),
        original_transaction_id=_optional_str(transaction, "originalTransactionId"),
        price_milli=price_milli,
        currency=currency,
    )
