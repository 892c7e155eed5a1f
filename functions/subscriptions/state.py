"""From a store notification to the user's subscription, and onto the profile.

A notification only moves a subscription forward in time: the profile keeps the event
time of the state it shows, and an update carrying an older event time is refused by
the table itself (conditional write), so out-of-order deliveries cannot undo a newer
state.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from botocore.exceptions import ClientError

from functions.common import users
from functions.common.clock import now_iso
from functions.subscriptions.apple import AppleNotification

PREMIUM, FREE = "premium", "free"
APPLE_ACTIVE = {"SUBSCRIBED", "DID_RENEW", "DID_CHANGE_RENEWAL_PREF", "DID_CHANGE_RENEWAL_STATUS",
                "OFFER_REDEEMED", "RENEWAL_EXTENDED", "PRICE_INCREASE", "REFUND_REVERSED"}
APPLE_EXPIRED = {"GRACE_PERIOD_EXPIRED", "EXPIRED"}
APPLE_REVOKED = {"REFUND", "REVOKE"}
GOOGLE_REVOKED = 12


def _iso(ms: Optional[int]) -> Optional[str]:
    if ms is None:
        return None
    return datetime.fromtimestamp(int(ms) / 1000, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _plan(kind: str, status: str, provider: str, product: Optional[str], expires: Optional[str], event_ms: int) -> dict:
    return {"type": kind, "status": status, "provider": provider, "product_id": product, "expires_at": expires,
            "event_ms": event_ms}


def from_apple(n: AppleNotification, now_ms: int) -> Optional[dict]:
    """The new subscription, or None when the notification changes nothing."""
    if n.type in APPLE_ACTIVE:
        if n.expires_ms is not None and n.expires_ms <= now_ms:
            return _plan(FREE, "expired", "apple", n.product_id, _iso(n.expires_ms), n.signed_ms)
        return _plan(PREMIUM, "active", "apple", n.product_id, _iso(n.expires_ms), n.signed_ms)
    if n.type == "DID_FAIL_TO_RENEW":
        if n.subtype == "GRACE_PERIOD":
            return _plan(PREMIUM, "grace_period", "apple", n.product_id, _iso(n.grace_expires_ms), n.signed_ms)
        return _plan(FREE, "expired", "apple", n.product_id, _iso(n.expires_ms), n.signed_ms)
    if n.type in APPLE_EXPIRED:
        return _plan(FREE, "expired", "apple", n.product_id, _iso(n.expires_ms), n.signed_ms)
    if n.type in APPLE_REVOKED:
        return _plan(FREE, "revoked", "apple", n.product_id, None, n.signed_ms)
    return None


def _rfc3339_ms(value: Optional[str]) -> Optional[int]:
    if not value:
        return None
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def from_google(notification_type: int, purchase: dict, event_ms: int, now_ms: int) -> Optional[dict]:
    line = (purchase.get("lineItems") or [{}])[0]
    product, expires_ms = line.get("productId"), _rfc3339_ms(line.get("expiryTime"))
    expires = _iso(expires_ms)
    if notification_type == GOOGLE_REVOKED:
        return _plan(FREE, "revoked", "google", product, None, event_ms)
    state = purchase.get("subscriptionState")
    if state == "SUBSCRIPTION_STATE_ACTIVE" or (state == "SUBSCRIPTION_STATE_CANCELED" and expires_ms
                                                 and expires_ms > now_ms):
        return _plan(PREMIUM, "active", "google", product, expires, event_ms)
    if state == "SUBSCRIPTION_STATE_IN_GRACE_PERIOD":
        return _plan(PREMIUM, "grace_period", "google", product, expires, event_ms)
    if state in ("SUBSCRIPTION_STATE_ON_HOLD", "SUBSCRIPTION_STATE_PAUSED", "SUBSCRIPTION_STATE_EXPIRED",
                 "SUBSCRIPTION_STATE_CANCELED"):
        return _plan(FREE, "expired", "google", product, expires, event_ms)
    return None  # pending purchases and unknown states change nothing


def apply(user_id: str, plan: dict) -> tuple[str, dict]:
    """(applied | stale (a newer state is already recorded) | unknown_user, the previous plan)."""
    try:
        old = users.table().update_item(
            Key=users.profile_key(user_id),
            UpdateExpression="SET current_subscription = :plan, updated_at = :now",
            ConditionExpression="attribute_exists(PK) AND (attribute_not_exists(current_subscription.event_ms) "
                                "OR current_subscription.event_ms < :t)",
            ExpressionAttributeValues={":plan": {**plan, "updated_at": now_iso()}, ":now": now_iso(),
                                       ":t": plan["event_ms"]},
            ReturnValues="UPDATED_OLD").get("Attributes", {})
        return "applied", old.get("current_subscription", {})
    except ClientError as e:
        if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    return ("stale" if users.exists(user_id) else "unknown_user"), {}
