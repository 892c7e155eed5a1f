"""Google Play real-time developer notifications, pushed by Pub/Sub.

The push request carries a Google-signed OIDC token: it must be issued by Google for
the configured audience and service account, with a verified email (checked with the
same JWKS verification as sign-in ID tokens). The message says only that a purchase
changed; its state is read from the Play Developer API (subscriptionsv2), with an
access token from the service account in the stack's secret.

When the secret is unset or unreadable, or the API cannot answer, `StoreUnavailable`
carries a reason code (never secret material): the webhook answers 503 and Pub/Sub
delivers the notification again later.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, overload

from botocore.exceptions import BotoCoreError, ClientError

from functions.common import aws, oauth, safejson
from functions.common.settings import settings
from functions.subscriptions import credentials
from functions.subscriptions.apple import InvalidNotification

SCOPE = "https://www.googleapis.com/auth/androidpublisher"
DEFAULT_API = "https://androidpublisher.googleapis.com"
# GetSecretValue's errors, as reasons
# (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html):
# ResourceNotFoundException also answers a secret that exists without any value (no
# AWSCURRENT version), which is how the program creates it; InvalidRequestException a
# secret scheduled for deletion; DecryptionFailure a KMS key the function may not use.
SECRET_ERRORS = {
    "ResourceNotFoundException": "secret_not_set",
    "AccessDeniedException": "secret_access_denied",
    "DecryptionFailure": "secret_decryption_failed",
    "InvalidRequestException": "secret_unusable",
}


# subscriptionsv2 acknowledgementState values
# (https://developers.google.com/android-publisher/api-ref/rest/v3/purchases.subscriptionsv2#AcknowledgementState).
ACK_PENDING, ACK_DONE = "ACKNOWLEDGEMENT_STATE_PENDING", "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"
# Google's permanent answers about a purchase token: 404 purchaseTokenNotFound (never
# issued, or replaced), 410 purchaseTokenNoLongerValid (expired over 60 days ago;
# https://developer.android.com/google/play/billing/lifecycle/subscriptions#expired).
# Asking again cannot change them.
GONE = (404, 410)
MAX_ANSWER_BYTES = 1024 * 1024


class PurchaseGone(Exception):
    """Google answered that the purchase token does not exist (any more)."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


class StoreUnavailable(Exception):
    """The store cannot be asked now; `reason` is a code, safe to log and count."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def verify_push(authorization: str) -> None:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:  # scheme names are case-insensitive (RFC 9110 11.1)
        raise InvalidNotification("unauthenticated")
    try:
        claims = oauth.verify_claims("google", token, audiences=[os.environ["GOOGLE_PUBSUB_AUDIENCE"]])
    except oauth.IdentityError:
        raise InvalidNotification("unauthenticated") from None
    if claims.get("email") != os.environ["GOOGLE_PUBSUB_SERVICE_ACCOUNT"] or not oauth.as_bool(
        claims.get("email_verified")
    ):
        raise InvalidNotification("unauthenticated")


@dataclass(frozen=True)
class GoogleNotification:
    notification_id: str  # the Pub/Sub message id
    type: int  # subscriptionNotification.notificationType (0 for tests)
    event_ms: int
    package_name: str
    purchase_token: str | None
    subscription_id: str | None


# The RTDN message (DeveloperNotification, https://developer.android.com/google/play/billing/rtdn-reference):
# `version` and `packageName` strings, `eventTimeMillis` a long (proto3 JSON writes 64-bit
# integers as strings of digits), and one of subscriptionNotification (`version`,
# `notificationType` an int, `purchaseToken` a string), oneTimeProductNotification,
# voidedPurchaseNotification or testNotification. The documented subscription types:
# 1 RECOVERED ... 13 EXPIRED, 17 ITEMS_CHANGED, 18 CANCELLATION_SCHEDULED,
# 19 PRICE_CHANGE_UPDATED, 20 PENDING_PURCHASE_CANCELED, 22 PRICE_STEP_UP_CONSENT_UPDATED.
SUBSCRIPTION_TYPES = frozenset({*range(1, 14), 17, 18, 19, 20, 22})
OTHER_KINDS = ("oneTimeProductNotification", "voidedPurchaseNotification", "testNotification")
# The event's time: Pub/Sub keeps an unacknowledged message at most 31 days
# (https://cloud.google.com/pubsub/docs/subscription-properties#retention_duration); the
# same 180-day window as Apple's signedDate is generous, and an hour of skew ahead.
EVENT_MAX_AGE_MS, EVENT_MAX_SKEW_MS = 180 * 86_400_000, 3_600_000
MAX_DATA_CHARS = 64 * 1024  # an RTDN message is a few hundred bytes
MAX_TOKEN_CHARS = 4096  # purchase tokens are a few hundred characters
MAX_ID_CHARS = 256


def type_label(notification_type: int) -> str:
    """The metrics' `type` dimension: a documented code, else `unknown` (bounded values only)."""
    return str(notification_type) if notification_type == 0 or notification_type in SUBSCRIPTION_TYPES else "unknown"


@overload
def _string(value: object, limit: int, required: Literal[True] = True) -> str: ...
@overload
def _string(value: object, limit: int, required: bool) -> str | None: ...
def _string(value: object, limit: int, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise InvalidNotification("malformed")
    return value


def _event_ms(value, now_ms: int) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 15:
        value = int(value)
    elif not (isinstance(value, int) and not isinstance(value, bool)):
        raise InvalidNotification("malformed")
    if not now_ms - EVENT_MAX_AGE_MS <= value <= now_ms + EVENT_MAX_SKEW_MS:
        raise InvalidNotification("malformed")
    return value


def decode(body: dict, package_name: str, now_ms: int | None = None) -> GoogleNotification:
    """The notification, every field this code reads of the type Google documents, or
    InvalidNotification (400): never another exception."""
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, dict):
        raise InvalidNotification("malformed")
    message_id = _string(message.get("messageId"), MAX_ID_CHARS)
    encoded = message.get("data")
    if not isinstance(encoded, str) or len(encoded) > MAX_DATA_CHARS:
        raise InvalidNotification("malformed")
    try:
        data = safejson.loads(base64.b64decode(encoded, validate=True))
    except (ValueError, TypeError):
        raise InvalidNotification("malformed") from None
    if not isinstance(data, dict) or data.get("packageName") != package_name:
        raise InvalidNotification("wrong_package")
    _string(data.get("version"), MAX_ID_CHARS, required=False)
    event_ms = _event_ms(data.get("eventTimeMillis"), int(time.time() * 1000) if now_ms is None else now_ms)
    notification = data.get("subscriptionNotification")
    if notification is None:
        # A test, or a kind this service does not sell (one-time products, voided purchases):
        # accepted and changes nothing, so Pub/Sub does not deliver it again for days.
        if not any(isinstance(data.get(kind), dict) for kind in OTHER_KINDS):
            raise InvalidNotification("malformed")
        return GoogleNotification(message_id, 0, event_ms, package_name, None, None)
    if not isinstance(notification, dict):
        raise InvalidNotification("malformed")
    kind = notification.get("notificationType")
    if not (isinstance(kind, int) and not isinstance(kind, bool)) or not 0 < kind < 2**31:
        raise InvalidNotification("malformed")
    return GoogleNotification(
        message_id,
        kind,
        event_ms,
        package_name,
        _string(notification.get("purchaseToken"), MAX_TOKEN_CHARS),
        _string(notification.get("subscriptionId"), MAX_ID_CHARS, required=False),
    )


class PlayApi:
    """subscriptionsv2.get with a cached OAuth access token (JWT bearer grant)."""

    def __init__(self, credentials: dict, base_url: str):
        self._credentials = credentials
        self._base = base_url.rstrip("/")
        self._token: tuple[float, str] = (0.0, "")
        self._lock = threading.Lock()

    def _access_token(self) -> str:
        with self._lock:
            if self._token[0] > time.time() + 60:
                return self._token[1]
            account = self._credentials
            now = int(time.time())
            import jwt  # PyJWT when a Play API token is needed, not at import

            try:
                assertion = jwt.encode(
                    {
                        "iss": account["client_email"],
                        "scope": SCOPE,
                        "aud": account["token_uri"],
                        "iat": now,
                        "exp": now + 3600,
                    },
                    account["private_key"],
                    algorithm="RS256",
                )
            except jwt.PyJWTError:  # not an RSA private key in PEM
                raise StoreUnavailable("service_account_key_invalid") from None
            body = urllib.parse.urlencode(
                {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
            ).encode()
            with urllib.request.urlopen(urllib.request.Request(account["token_uri"], data=body), timeout=5) as r:
                answer = json.loads(r.read())
            self._token = (time.time() + int(answer.get("expires_in", 3600)), answer["access_token"])
            return self._token[1]

    def _purchase_url(self, package_name: str) -> str:
        return f"{self._base}/androidpublisher/v3/applications/{urllib.parse.quote(package_name, safe='')}/purchases"

    def _call(self, request: urllib.request.Request) -> bytes:
        """The answer's body; PurchaseGone for Google's permanent answers about a token."""
        request.add_header("Authorization", f"Bearer {self._access_token()}")
        try:
            with urllib.request.urlopen(request, timeout=5) as r:
                return r.read(MAX_ANSWER_BYTES)
        except urllib.error.HTTPError as e:
            if e.code in GONE:
                raise PurchaseGone(e.code) from None
            raise

    def subscription(self, package_name: str, purchase_token: str) -> dict:
        """purchases.subscriptionsv2.get
        (https://developers.google.com/android-publisher/api-ref/rest/v3/purchases.subscriptionsv2/get)."""
        url = f"{self._purchase_url(package_name)}/subscriptionsv2/tokens/{urllib.parse.quote(purchase_token, safe='')}"
        answer = json.loads(self._call(urllib.request.Request(url)))
        if not isinstance(answer, dict):
            raise ValueError("not a SubscriptionPurchaseV2")
        return answer

    def acknowledge(self, package_name: str, subscription_id: str, purchase_token: str) -> None:
        """purchases.subscriptions.acknowledge: an empty body answers success
        (https://developers.google.com/android-publisher/api-ref/rest/v3/purchases.subscriptions/acknowledge)."""
        url = (
            f"{self._purchase_url(package_name)}/subscriptions/{urllib.parse.quote(subscription_id, safe='')}"
            f"/tokens/{urllib.parse.quote(purchase_token, safe='')}:acknowledge"
        )
        self._call(urllib.request.Request(url, data=b"{}", method="POST", headers={"Content-Type": "application/json"}))


def acknowledge_if_needed(api: PlayApi, package_name: str, purchase_token: str, purchase: dict) -> bool:
    """Acknowledges a purchase Google reports unacknowledged: one Google does not see
    acknowledged within three days is refunded and revoked
    (https://developer.android.com/google/play/billing/integrate#process). Idempotent: an
    acknowledged purchase is left alone, and when the acknowledgement is refused (Google
    answers 400 `invalidPurchaseState` to a second acknowledgement, or 409 while another
    update runs) the purchase is read again: acknowledged by then (a redelivery raced this
    one) is success. True when this call acknowledged it. URLError: ask again later."""
    if purchase.get("acknowledgementState") != ACK_PENDING:
        return False
    products = [line.get("productId") for line in purchase.get("lineItems") or () if isinstance(line, dict)]
    if not products or not isinstance(products[0], str):
        raise ValueError("no product to acknowledge")
    try:
        api.acknowledge(package_name, products[0], purchase_token)
    except urllib.error.HTTPError as e:
        if (
            e.code not in (400, 409)
            or api.subscription(package_name, purchase_token).get("acknowledgementState") != ACK_DONE
        ):
            raise
        return False
    return True


def service_account() -> dict:
    """The Play service account from the stack's secret, or StoreUnavailable with the reason."""
    try:
        answer = aws.client("secretsmanager").get_secret_value(SecretId=settings().require("secret_arn"))
    except ClientError as e:
        raise StoreUnavailable(
            SECRET_ERRORS.get(e.response.get("Error", {}).get("Code", ""), "secret_unavailable")
        ) from None
    except BotoCoreError:  # endpoint unreachable, timeouts after the SDK's retries
        raise StoreUnavailable("secret_unavailable") from None
    text = answer.get("SecretString")  # a binary-only secret has none
    reason = credentials.problem(text)
    if reason:
        raise StoreUnavailable(reason)
    return credentials.service_account(text)


@lru_cache(maxsize=1)  # a failure is not cached: the next notification reads the secret again
def play_api() -> PlayApi:
    return PlayApi(service_account(), os.environ.get("PLAY_API_BASE_URL") or DEFAULT_API)
