"""App Store Server Notifications V2: verification and decoding.

A notification is a JWS whose `x5c` header carries the signing chain, leaf first. It is
trusted when: the chain has three certificates; each is signed by the next and valid
at the notification's signed date; the leaf carries Apple's App Store receipt-signing
OID and the intermediate Apple's WWDR intermediate OID; the root is self-signed and is
exactly the pinned root (SHA-256 of Apple Root CA - G3, from stack config; the local
stack pins its own test root); and the JWS verifies with the leaf's key (ES256). The
nested signed transaction and renewal info are verified the same way.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Optional

from functions.common import safejson

if TYPE_CHECKING:
    from cryptography import x509

# PyJWT and cryptography's X.509 are imported by the calls that verify a notification:
# the subscriptions function's GET route and Google's notifications never load them.
LEAF_OID = "1.2.840.113635.100.6.11.1"          # dotted strings: ObjectIdentifier when checked
INTERMEDIATE_OID = "1.2.840.113635.100.6.2.1"


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


def _verify_chain(chain: list[x509.Certificate], root_sha256: str, at: datetime) -> None:
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
    if not basic.ca:
        raise InvalidNotification("bad_chain")
    try:
        root.verify_directly_issued_by(root)
        intermediate.verify_directly_issued_by(root)
        leaf.verify_directly_issued_by(intermediate)
    except (InvalidSignature, ValueError, TypeError):
        raise InvalidNotification("bad_chain") from None
    for cert in chain:
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            raise InvalidNotification("certificate_expired")


def verify_jws(token: str, root_sha256: str) -> dict:
    """The verified payload of one Apple-signed JWS."""
    import jwt
    from cryptography import x509

    try:
        safejson.check_jws(token)  # PyJWT parses both before any signature is checked
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, safejson.UnsafeJson):
        raise InvalidNotification("malformed") from None
    if header.get("alg") != "ES256" or not isinstance(header.get("x5c"), list):
        raise InvalidNotification("malformed")
    try:
        chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in header["x5c"]]
    except (ValueError, TypeError):
        raise InvalidNotification("bad_chain") from None
    signed_ms = unverified.get("signedDate")
    if not isinstance(signed_ms, (int, float)):
        raise InvalidNotification("malformed")
    _verify_chain(chain, root_sha256, datetime.fromtimestamp(signed_ms / 1000, timezone.utc))
    try:
        return jwt.decode(token, chain[0].public_key(), algorithms=["ES256"],
                          options={"verify_aud": False, "verify_exp": False})
    except jwt.PyJWTError:
        raise InvalidNotification("bad_signature") from None


@dataclass(frozen=True)
class AppleNotification:
    notification_id: str
    type: str
    subtype: Optional[str]
    signed_ms: int
    environment: Optional[str]
    bundle_id: Optional[str]
    user_id: Optional[str]            # appAccountToken, set by the app at purchase
    product_id: Optional[str]
    expires_ms: Optional[int]
    grace_expires_ms: Optional[int]
    original_transaction_id: Optional[str]
    # What the transaction cost: milli-units of `currency` (ISO 4217), as Apple sends them
    # (JWSTransactionDecodedPayload price/currency); None when absent or malformed.
    price_milli: Optional[int] = None
    currency: Optional[str] = None


def _price(transaction: dict) -> tuple[Optional[int], Optional[str]]:
    price, currency = transaction.get("price"), transaction.get("currency")
    if isinstance(price, int) and not isinstance(price, bool) and price >= 0 and isinstance(currency, str) \
            and len(currency) == 3 and currency.isascii() and currency.isupper():
        return price, currency
    return None, None


def decode(body: dict, root_sha256: str, bundle_id: str, environment: str) -> AppleNotification:
    signed = body.get("signedPayload") if isinstance(body, dict) else None
    if not isinstance(signed, str):
        raise InvalidNotification("malformed")
    payload = verify_jws(signed, root_sha256)
    data = payload.get("data") or {}
    transaction = verify_jws(data["signedTransactionInfo"], root_sha256) if data.get("signedTransactionInfo") else {}
    renewal = verify_jws(data["signedRenewalInfo"], root_sha256) if data.get("signedRenewalInfo") else {}
    if payload.get("notificationType") != "TEST":
        if data.get("bundleId") != bundle_id or transaction.get("bundleId", bundle_id) != bundle_id:
            raise InvalidNotification("wrong_bundle")
        if data.get("environment") != environment:
            raise InvalidNotification("wrong_environment")
    if not isinstance(payload.get("notificationUUID"), str) or not isinstance(payload.get("notificationType"), str):
        raise InvalidNotification("malformed")
    return AppleNotification(
        notification_id=payload["notificationUUID"], type=payload["notificationType"],
        subtype=payload.get("subtype"), signed_ms=int(payload["signedDate"]),
        environment=data.get("environment"), bundle_id=data.get("bundleId"),
        user_id=transaction.get("appAccountToken"), product_id=transaction.get("productId"),
        expires_ms=transaction.get("expiresDate"), grace_expires_ms=renewal.get("gracePeriodExpiresDate"),
        original_transaction_id=transaction.get("originalTransactionId"),
        price_milli=_price(transaction)[0], currency=_price(transaction)[1])

