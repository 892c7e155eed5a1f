"""subscriptions: the caller's plan, and the App Store / Google Play webhook.

Each notification is processed once (Powertools idempotency on the notification id,
stored in the table with an expiry). Unknown users and products are answered 200, so
the stores stop retrying, and counted. Anything unsigned, wrongly signed or malformed
is refused with 400/401 and counted; nothing changes. When the store cannot be asked
(the Play credential unset or unreadable, the Play Developer API down) the answer is
503 `store_unavailable`, counted in StoreApiFailures, and the store delivers again.
"""

from __future__ import annotations

import dataclasses
import os
import time
import urllib.error
from http import HTTPStatus

import boto3
from aws_lambda_powertools.shared import user_agent
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function

from functions.common import lazy, users
from functions.common.api import api_handler
from functions.common.http import ApiError, account_gone, caller_id, make_resolver, parse_json_object
from functions.common.limits import MAX_WEBHOOK_BYTES
from functions.common.observability import count, logger
from functions.common.settings import settings
from functions.subscriptions import apple, google, state

app = make_resolver()
# Store notifications load PyJWT and cryptography's X.509 on first use (apple.py, google.py).
lazy.preload("jwt", "cryptography.x509")
# A signature problem is 401; anything else wrong with a notification is 400.
UNAUTHENTIC = {
    "unauthenticated",
    "bad_signature",
    "bad_chain",
    "untrusted_root",
    "missing_apple_oid",
    "certificate_expired",
}
IDEMPOTENCY_DAYS = 30


class _LazyClientPersistence(DynamoDBPersistenceLayer):
    """Powertools' DynamoDB idempotency store, whose client (and DynamoDB's service model)
    is created by the first notification rather than at import: the GET route never needs it."""

    _PENDING = object()  # no `meta`: the parent's user-agent registration skips it

    def __init__(self, **kwargs):
        self._client = self._PENDING
        super().__init__(boto3_client=self._PENDING, **kwargs)
        if self._client is self._PENDING:
            self._client = None

    @property
    def client(self):
        if self._client is None:
            self._client = boto3.session.Session().client("dynamodb")  # what the parent would have made
            user_agent.register_feature_to_client(client=self._client, feature="idempotency")
        return self._client

    @client.setter
    def client(self, value) -> None:
        self._client = value


persistence = _LazyClientPersistence(
    table_name=settings().require("table_name"),
    key_attr="PK",
    sort_key_attr="SK",
    expiry_attr="ttl",
    static_pk_value="IDEMPOTENCY#subscriptions",
)
once = IdempotencyConfig(event_key_jmespath="[store, notification_id]", expires_after_seconds=IDEMPOTENCY_DAYS * 86_400)


def premium_products() -> set[str]:
    return {p for p in os.environ.get("PREMIUM_PRODUCTS", "").split(",") if p}


@app.get("/api/v1/subscriptions")
def current():
    plan = users.plan(caller_id(app, check_account=False))  # the profile read is the check
    if plan is None:
        raise account_gone()
    return {
        "type": plan.get("type", "free"),
        "status": plan.get("status", "active"),
        "provider": plan.get("provider"),
        "product_id": plan.get("product_id"),
        "expires_at": plan.get("expires_at"),
    }


def _refuse(store: str, reason: str) -> ApiError:
    count("WebhookRejections", store=store, reason=reason)
    logger.warning("notification refused", extra={"store": store, "reason": reason})
    if reason in UNAUTHENTIC:
        return ApiError(HTTPStatus.UNAUTHORIZED, "invalid_signature", "the notification's signature is not valid")
    return ApiError(HTTPStatus.BAD_REQUEST, "invalid_notification", f"the notification was refused: {reason}")


@app.post("/api/v1/subscriptions/webhook")
def webhook():
    body = parse_json_object(app, MAX_WEBHOOK_BYTES)
    store = "apple" if "signedPayload" in body else "google" if "message" in body else "unknown"
    notification: apple.AppleNotification | google.GoogleNotification
    try:
        if store == "apple":
            notification = apple.decode(
                body, os.environ["APPLE_ROOT_SHA256"], os.environ["APPLE_BUNDLE_ID"], os.environ["APPLE_ENVIRONMENT"]
            )
        elif store == "google":
            google.verify_push(
                app.current_event.headers.get("Authorization") or app.current_event.headers.get("authorization") or ""
            )
            notification = google.decode(body, os.environ["GOOGLE_PACKAGE_NAME"])
        else:
            raise apple.InvalidNotification("malformed")
    except apple.InvalidNotification as e:
        raise _refuse(store, e.reason) from None
    outcome = process(notification={"store": store, **dataclasses.asdict(notification)})
    return {"status": "accepted", "outcome": outcome}


@idempotent_function(data_keyword_argument="notification", persistence_store=persistence, config=once)
def process(notification: dict) -> str:
    store = notification["store"]
    now_ms = int(time.time() * 1000)
    if store == "apple":
        n = apple.AppleNotification(**{k: v for k, v in notification.items() if k != "store"})
        kind = n.type  # a documented type or UNKNOWN (apple.decode)
        user_id, product, plan = n.user_id, n.product_id, state.from_apple(n, now_ms)
        subscription = n.original_transaction_id or n.product_id
        outcome = _outcome(
            user_id, product, plan, state.entry_key(store, subscription) if subscription else None, now_ms
        )
    else:
        g = google.GoogleNotification(**{k: v for k, v in notification.items() if k != "store"})
        kind = google.type_label(g.type)
        # No purchase token: a test, or a kind this service does not sell (google.decode).
        outcome = "no_change" if g.purchase_token is None else _google_purchase(g, g.purchase_token, now_ms)
    count("Notifications", store=store, type=kind, outcome=outcome)
    logger.info("notification processed", extra={"store": store, "type": kind, "outcome": outcome})
    return outcome


def _google_purchase(n: google.GoogleNotification, token: str, now_ms: int) -> str:
    """Reads the purchase `token` (n's) from the Play Developer API, records it, ends the
    purchase it replaced, and acknowledges it once it is recorded."""
    try:
        api = google.play_api()
        purchase = api.subscription(n.package_name, token)
    except google.StoreUnavailable as e:  # the secret unset, unreadable or incomplete
        raise _store_unavailable("google", e.reason) from None
    except google.PurchaseGone:
        # A permanent answer (404/410): a redelivery would get the same, so 200 and counted
        # (Notifications outcome=unknown_purchase), not 503 retried by Pub/Sub for days.
        return "unknown_purchase"
    except (urllib.error.URLError, TimeoutError, KeyError, ValueError):
        raise _store_unavailable("google", "play_api_failed") from None
    user_id = (
        (purchase.get("externalAccountIdentifiers") or {}).get("obfuscatedExternalAccountId")
        if isinstance(purchase.get("externalAccountIdentifiers"), dict)
        else None
    )
    try:
        plan = state.from_google(n.type, purchase, n.event_ms, now_ms)
    except (TypeError, ValueError, AttributeError, IndexError):  # a purchase not shaped as documented
        raise _store_unavailable("google", "play_api_failed") from None
    product = plan["product_id"] if plan else None
    # An upgrade, downgrade or re-signup names the purchase it replaces: that entry ends, so
    # the user never holds both (SubscriptionPurchaseV2.linkedPurchaseToken,
    # https://developers.google.com/android-publisher/api-ref/rest/v3/purchases.subscriptionsv2).
    linked = purchase.get("linkedPurchaseToken")
    replaces = state.entry_key("google", linked) if isinstance(linked, str) and linked and linked != token else None
    outcome = _outcome(user_id, product, plan, state.entry_key("google", token), now_ms, replaces)
    # Only a purchase the user now holds is acknowledged: an unknown user or product is
    # left unacknowledged, and Google refunds it after three days.
    if outcome in ("applied", "stale") and plan is not None and plan["type"] == state.PREMIUM:
        try:
            google.acknowledge_if_needed(api, n.package_name, token, purchase)
        except google.PurchaseGone:
            pass  # replaced or gone meanwhile: nothing is left to acknowledge
        except (urllib.error.URLError, TimeoutError, KeyError, ValueError):
            # Nothing is lost: the redelivery finds the entry recorded (stale) and acknowledges.
            raise _store_unavailable("google", "play_acknowledge_failed") from None
    return outcome


def _store_unavailable(store: str, reason: str) -> ApiError:
    """503: Pub/Sub redelivers a push answered with anything but a success
    (https://cloud.google.com/pubsub/docs/push#receive_push), and nothing was recorded, so
    the notification is processed once the store can be asked."""
    count("StoreApiFailures", store=store, reason=reason)
    logger.error("store unavailable", extra={"store": store, "reason": reason})
    return ApiError(
        HTTPStatus.SERVICE_UNAVAILABLE,
        "store_unavailable",
        "the store cannot be asked right now; deliver the notification again later",
    )


def _outcome(user_id, product, plan, key, now_ms, replaces=None) -> str:
    if plan is None or key is None:
        return "no_change"
    if not isinstance(product, str) or product not in premium_products():
        return "unknown_product"
    if not user_id or not isinstance(user_id, str):
        return "unknown_user"
    result, before, after = state.apply(user_id, key, plan, now_ms, replaces=replaces)
    if result == "applied":
        if before.get("type", "free") != after.get("type", "free"):
            count("SubscriptionChanges", direction="upgrade" if after.get("type") == state.PREMIUM else "downgrade")
    return result


_resolve = api_handler(app)


def handler(event, context):
    once.register_lambda_context(context)  # in-progress records expire with the invocation
    return _resolve(event, context)
