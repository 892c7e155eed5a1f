"""A local stand-in for the App Store and Google Play.

Apple: a test root, intermediate and leaf (with Apple's certificate OIDs) generated
once per run; notifications are signed like Apple's (ES256 JWS with the x5c chain) and
the local stack pins this root's SHA-256 in place of Apple Root CA - G3.

Google: purchases kept in memory; notifications pushed like Pub/Sub (base64 message,
an OIDC token from the local identity provider as the push service account); the Play
Developer API (`subscriptionsv2.get`, `subscriptions.acknowledge`) and its OAuth token
endpoint are served under `/local/play/`, with a service-account key the local stack puts
in the secret. As on Google: a new purchase is unacknowledged until acknowledged, a second
acknowledgement is refused (400 invalidPurchaseState), an upgrade or re-signup names the
purchase it replaces in `linkedPurchaseToken` (which then expires), and a token Google no
longer keeps answers 410.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID, ObjectIdentifier

from local.identity import LocalIdentityProvider

LEAF_OID = ObjectIdentifier("1.2.840.113635.100.6.11.1")
INTERMEDIATE_OID = ObjectIdentifier("1.2.840.113635.100.6.2.1")
DAY_MS = 86_400_000
GOOGLE_STATES = {  # RTDN notificationType -> what the Play API then reports
    1: "SUBSCRIPTION_STATE_ACTIVE",
    2: "SUBSCRIPTION_STATE_ACTIVE",
    4: "SUBSCRIPTION_STATE_ACTIVE",
    7: "SUBSCRIPTION_STATE_ACTIVE",
    3: "SUBSCRIPTION_STATE_CANCELED",
    5: "SUBSCRIPTION_STATE_ON_HOLD",
    6: "SUBSCRIPTION_STATE_IN_GRACE_PERIOD",
    10: "SUBSCRIPTION_STATE_PAUSED",
    12: "SUBSCRIPTION_STATE_EXPIRED",
    13: "SUBSCRIPTION_STATE_EXPIRED",
    20: "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED",
}


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Serenya local test"),
        ]
    )


def certificate(
    subject: str,
    key: CertificateIssuerPrivateKeyTypes,
    issuer: tuple[str, CertificateIssuerPrivateKeyTypes] | None = None,
    ca: bool = False,
    oid: ObjectIdentifier | None = None,
    days: int = 365,
    not_before: datetime | None = None,
) -> x509.Certificate:
    """A certificate like Apple's chain uses; `issuer` is (name, private key), None for self-signed."""
    start = not_before or datetime.now(UTC) - timedelta(days=1)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if oid is not None:
        builder = builder.add_extension(x509.UnrecognizedExtension(oid, b"\x05\x00"), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class AppleChain:
    leaf_key: ec.EllipticCurvePrivateKey
    certificates: list[x509.Certificate]  # leaf, intermediate, root

    @classmethod
    def generate(cls) -> AppleChain:
        root_key, intermediate_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
        root = certificate("Local Apple Root CA - G3", root_key, ca=True)
        intermediate = certificate(
            "Local Apple WWDR CA",
            intermediate_key,
            ("Local Apple Root CA - G3", root_key),
            ca=True,
            oid=INTERMEDIATE_OID,
        )
        leaf = certificate(
            "Local Mac App Store Receipt Signing", leaf_key, ("Local Apple WWDR CA", intermediate_key), oid=LEAF_OID
        )
        return cls(leaf_key, [leaf, intermediate, root])

    @property
    def root_sha256(self) -> str:
        return hashlib.sha256(self.certificates[-1].public_bytes(serialization.Encoding.DER)).hexdigest()

    def sign(self, payload: dict) -> str:
        x5c = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in self.certificates]
        return jwt.encode(payload, self.leaf_key, algorithm="ES256", headers={"x5c": x5c})


class StoreSimulator:
    def __init__(
        self,
        identity: LocalIdentityProvider,
        base_url: str,
        bundle_id: str,
        environment: str,
        package_name: str,
        pubsub_audience: str,
        pubsub_account: str,
    ):
        self.apple = AppleChain.generate()
        self._identity, self._base = identity, base_url
        self.bundle_id, self.environment, self.package_name = bundle_id, environment, package_name
        self.pubsub_audience, self.pubsub_account = pubsub_audience, pubsub_account
        self.service_account_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.service_account_email = "play-api@serenya-local.iam.gserviceaccount.com"
        self._purchases: dict[str, dict] = {}
        self._gone: set[str] = set()  # tokens Google no longer keeps: 410
        self.acknowledgements: list[str] = []  # purchase tokens, in the order acknowledged
        self._access_tokens: set[str] = set()
        self._lock = threading.Lock()

    # -- what the local stack configures --------------------------------------------
    def secret(self) -> dict:
        pem = self.service_account_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "google_play_service_account": {
                "client_email": self.service_account_email,
                "private_key": pem,
                "token_uri": f"{self._base}/local/play/token",
            }
        }

    def environment_overrides(self) -> dict[str, str]:
        return {"APPLE_ROOT_SHA256": self.apple.root_sha256, "PLAY_API_BASE_URL": f"{self._base}/local/play"}

    # -- Apple ----------------------------------------------------------------------
    def apple_notification(
        self,
        user_id: str,
        notification_type: str,
        product_id: str,
        subtype: str | None = None,
        signed_ms: int | None = None,
        original_transaction_id: str | None = None,
    ) -> dict:
        now = signed_ms or int(time.time() * 1000)
        expired = notification_type in ("EXPIRED", "GRACE_PERIOD_EXPIRED")
        transaction = {
            "transactionId": str(uuid.uuid4().int)[:16],
            "originalTransactionId": original_transaction_id or f"orig-{user_id[:8]}",
            "bundleId": self.bundle_id,
            "productId": product_id,
            "purchaseDate": now - DAY_MS,
            "expiresDate": now - 1000 if expired else now + 30 * DAY_MS,
            "type": "Auto-Renewable Subscription",
            "appAccountToken": user_id,
            "environment": self.environment,
            "signedDate": now,
            # Apple's price is in milli-units of the currency (JWSTransactionDecodedPayload)
            "price": APPLE_PRICES_MILLI.get(product_id, 9990),
            "currency": "EUR",
            "storefront": "FRA",
        }
        renewal = {
            "autoRenewProductId": product_id,
            "signedDate": now,
            "environment": self.environment,
            "originalTransactionId": transaction["originalTransactionId"],
        }
        if subtype == "GRACE_PERIOD":
            renewal["gracePeriodExpiresDate"] = now + 16 * DAY_MS
        payload = {
            "notificationType": notification_type,
            "notificationUUID": str(uuid.uuid4()),
            "version": "2.0",
            "signedDate": now,
            "data": {
                "bundleId": self.bundle_id,
                "environment": self.environment,
                "signedTransactionInfo": self.apple.sign(transaction),
                "signedRenewalInfo": self.apple.sign(renewal),
            },
        }
        if subtype:
            payload["subtype"] = subtype
        return {"signedPayload": self.apple.sign(payload)}

    # -- Google ---------------------------------------------------------------------
    @staticmethod
    def purchase_token(user_id: str, product_id: str) -> str:
        return f"token-{hashlib.sha256(f'{user_id}:{product_id}'.encode()).hexdigest()[:24]}"

    def google_notification(
        self,
        user_id: str,
        notification_type: int,
        product_id: str,
        event_ms: int | None = None,
        linked_purchase_token: str | None = None,
    ) -> tuple[dict, dict[str, str]]:
        """(Pub/Sub push body, headers) after the purchase moved to the type's state.
        `linked_purchase_token`: the purchase this one upgrades, downgrades or re-signs up
        from, which Google then reports expired."""
        now = event_ms or int(time.time() * 1000)
        token = self.purchase_token(user_id, product_id)
        state = GOOGLE_STATES.get(notification_type, "SUBSCRIPTION_STATE_ACTIVE")
        expiry = now - 1000 if state == "SUBSCRIPTION_STATE_EXPIRED" else now + 30 * DAY_MS
        with self._lock:
            known = self._purchases.get(token, {})
            purchase = {
                "kind": "androidpublisher#subscriptionPurchaseV2",
                "subscriptionState": state,
                "lineItems": [{"productId": product_id, "expiryTime": _rfc3339(expiry)}],
                "externalAccountIdentifiers": {"obfuscatedExternalAccountId": user_id},
                # a purchase starts unacknowledged; later events keep what it has
                "acknowledgementState": known.get("acknowledgementState", "ACKNOWLEDGEMENT_STATE_PENDING"),
            }
            if linked_purchase_token:
                purchase["linkedPurchaseToken"] = linked_purchase_token
                old = self._purchases.get(linked_purchase_token)
                if old:
                    old.update(subscriptionState="SUBSCRIPTION_STATE_EXPIRED")
                    old["lineItems"][0]["expiryTime"] = _rfc3339(now - 1000)
            self._purchases[token] = purchase
            self._gone.discard(token)
        message = {
            "version": "1.0",
            "packageName": self.package_name,
            "eventTimeMillis": str(now),
            "subscriptionNotification": {
                "version": "1.0",
                "notificationType": notification_type,
                "purchaseToken": token,
                "subscriptionId": product_id,
            },
        }
        body = {
            "message": {
                "data": base64.b64encode(json.dumps(message).encode()).decode(),
                "messageId": str(uuid.uuid4().int)[:16],
                "publishTime": _rfc3339(now),
            },
            "subscription": "projects/serenya-local/subscriptions/play-rtdn",
        }
        oidc = self._identity.id_token("google", "pubsub", email=self.pubsub_account, audience=self.pubsub_audience)
        return body, {"Authorization": f"Bearer {oidc}", "Content-Type": "application/json"}

    def play_token(self, form: dict[str, str]) -> dict | None:
        """The OAuth token endpoint: a JWT-bearer grant signed by the service account."""
        try:
            jwt.decode(
                form.get("assertion", ""),
                self.service_account_key.public_key(),
                algorithms=["RS256"],
                audience=f"{self._base}/local/play/token",
                issuer=self.service_account_email,
            )
        except jwt.PyJWTError:
            return None
        token = uuid.uuid4().hex
        with self._lock:
            self._access_tokens.add(token)
        return {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    def play_subscription(self, path: str, authorization: str) -> tuple[int, dict]:
        """GET .../applications/{package}/purchases/subscriptionsv2/tokens/{token}."""
        if authorization.removeprefix("Bearer ") not in self._access_tokens:
            return 401, _play_error(401, "unauthorized", "invalid credentials")
        parts = path.split("/")
        if len(parts) < 2 or parts[-2] != "tokens" or f"/applications/{self.package_name}/" not in path:
            return 404, _play_error(404, "notFound", "not found")
        if parts[-1] in self._gone:
            return 410, _play_error(410, "purchaseTokenNoLongerValid", "The purchase token is no longer valid.")
        purchase = self._purchases.get(parts[-1])
        return (
            (200, purchase)
            if purchase
            else (404, _play_error(404, "purchaseTokenNotFound", "The purchase token was not found."))
        )

    def forget(self, user_id: str, product_id: str) -> str:
        """Google keeps a purchase 60 days after it expired, then answers 410 for its token."""
        token = self.purchase_token(user_id, product_id)
        with self._lock:
            self._purchases.pop(token, None)
            self._gone.add(token)
        return token

    def play_acknowledge(self, path: str, authorization: str) -> tuple[int, dict]:
        """POST .../applications/{package}/purchases/subscriptions/{id}/tokens/{token}:acknowledge:
        an empty answer; 400 invalidPurchaseState for a purchase acknowledged already (what
        Google answers a second acknowledgement)."""
        if authorization.removeprefix("Bearer ") not in self._access_tokens:
            return 401, _play_error(401, "unauthorized", "invalid credentials")
        parts = path.removesuffix(":acknowledge").split("/")
        if (
            not path.endswith(":acknowledge")
            or len(parts) < 4
            or parts[-2] != "tokens"
            or parts[-4] != "subscriptions"
            or f"/applications/{self.package_name}/" not in path
        ):
            return 404, _play_error(404, "notFound", "not found")
        subscription_id, token = parts[-3], parts[-1]
        with self._lock:
            if token in self._gone:
                return 410, _play_error(410, "purchaseTokenNoLongerValid", "The purchase token is no longer valid.")
            purchase = self._purchases.get(token)
            if purchase is None:
                return 404, _play_error(404, "purchaseTokenNotFound", "The purchase token was not found.")
            if purchase["lineItems"][0]["productId"] != subscription_id:
                return 400, _play_error(400, "invalid", "Invalid Value")
            if purchase["acknowledgementState"] == "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED":
                return 400, _play_error(
                    400,
                    "invalidPurchaseState",
                    "The purchase is not in a valid state to perform the desired operation.",
                )
            purchase["acknowledgementState"] = "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"
            self.acknowledgements.append(token)
        return 200, {}


def _play_error(code: int, reason: str, message: str) -> dict:
    """Google's JSON error body (https://cloud.google.com/apis/design/errors#http_mapping)."""
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"domain": "androidpublisher", "reason": reason, "message": message}],
        }
    }


# What the simulated App Store charges, in milli-units of EUR (list prices live in stack config).
APPLE_PRICES_MILLI = {"health.serenya.premium.monthly": 9990, "health.serenya.premium.yearly": 89990}


def _rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
