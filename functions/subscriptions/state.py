"""From a store notification to the user's subscriptions, and onto the profile.

Each store subscription keeps its own state on the profile (`subscriptions`, keyed by
store and the store's id of that subscription: Apple's originalTransactionId, a digest
of Google's purchase token), so an event about one subscription never changes another:
an Apple expiry leaves an active Google purchase alone, and a notification whose
appAccountToken names someone else can add an entry to their profile but cannot end
the one that makes them premium. `current_subscription` is the strongest current
entitlement across the entries, written with them.

A notification that bills a period (a purchase, a renewal) stamps its entry with
`charged_ms`, and a refund with `refunded_ms` (the notification's time), with the price
and currency when the store sent them: the stream turns each new stamp into one
`subscription_charged` or `subscription_refunded` audit event, which the revenue query
sums (analytics_queries/sql/revenue_by_month.sql).

A notification only moves its subscription forward in time: an event older than the
entry's is `stale`. Entries and the strongest plan are written together under an
optimistic version check (one read, one conditional write; retried on a race), so two
notifications for one user at once cannot lose either.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from functions.common import users
from functions.common.clock import now_iso
from functions.subscriptions.apple import AppleNotification

PREMIUM, FREE = "premium", "free"
APPLE_ACTIVE = {
    "SUBSCRIBED",
    "DID_RENEW",
    "DID_CHANGE_RENEWAL_PREF",
    "DID_CHANGE_RENEWAL_STATUS",
    "OFFER_REDEEMED",
    "RENEWAL_EXTENDED",
    "PRICE_INCREASE",
    "REFUND_REVERSED",
}
APPLE_EXPIRED = {"GRACE_PERIOD_EXPIRED", "EXPIRED"}
APPLE_REVOKED = {"REFUND", "REVOKE"}
GOOGLE_REVOKED = 12
# Notifications that mean the store took money, or gave it back. Apple: SUBSCRIBED (a
# purchase or resubscription), DID_RENEW (a renewal, billing recovery included),
# OFFER_REDEEMED (bought at an offer's price); REFUND (REVOKE is Family Sharing losing
# access: no money moves). Google RTDN: 4 PURCHASED, 2 RENEWED, 1 RECOVERED; 12 REVOKED.
# https://developer.apple.com/documentation/appstoreservernotifications/notificationtype
# https://developer.android.com/google/play/billing/rtdn-reference
APPLE_CHARGES, APPLE_REFUNDS = {"SUBSCRIBED", "DID_RENEW", "OFFER_REDEEMED"}, {"REFUND"}
GOOGLE_CHARGES, GOOGLE_REFUNDS = {4, 2, 1}, {GOOGLE_REVOKED}


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(int(ms) / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _plan(kind: str, status: str, provider: str, product: str | None, expires: str | None, event_ms: int) -> dict:
    return {
        "type": kind,
        "status": status,
        "provider": provider,
        "product_id": product,
        "expires_at": expires,
        "event_ms": event_ms,
    }


def _billed(
    plan: dict | None, charge: bool, refund: bool, event_ms: int, price_milli: int | None, currency: str | None
) -> dict | None:
    if plan is None or not (charge or refund):
        return plan
    plan = {**plan, ("charged_ms" if charge else "refunded_ms"): event_ms}
    if price_milli is not None and currency:
        plan.update(price_milli=price_milli, currency=currency)
    return plan


def from_apple(n: AppleNotification, now_ms: int) -> dict | None:
    """The new subscription, or None when the notification changes nothing."""
    return _billed(
        _apple_plan(n, now_ms), n.type in APPLE_CHARGES, n.type in APPLE_REFUNDS, n.signed_ms, n.price_milli, n.currency
    )


def _apple_plan(n: AppleNotification, now_ms: int) -> dict | None:
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


def _rfc3339_ms(value: str | None) -> int | None:
    """An RFC 3339 time (Play's `expiryTime`) in ms; None when absent or not one."""
    if not value or not isinstance(value, str):
        return None
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    except (ValueError, OverflowError):
        return None


def _google_price(line: dict) -> tuple[int | None, str | None]:
    """The line item's recurring price (a google.type.Money: units and nanos), in milli-units."""
    money = (line.get("autoRenewingPlan") or {}).get("recurringPrice") or {}
    try:
        units, nanos, currency = int(money.get("units", 0)), int(money.get("nanos", 0)), money["currencyCode"]
    except (KeyError, TypeError, ValueError):
        return None, None
    if not isinstance(currency, str) or len(currency) != 3 or units < 0 or nanos < 0:
        return None, None
    return units * 1000 + nanos // 1_000_000, currency


def _line(purchase: dict) -> dict:
    lines = purchase.get("lineItems")
    return lines[0] if isinstance(lines, list) and lines and isinstance(lines[0], dict) else {}


def from_google(notification_type: int, purchase: dict, event_ms: int, now_ms: int) -> dict | None:
    line = _line(purchase)
    return _billed(
        _google_plan(notification_type, purchase, event_ms, now_ms),
        notification_type in GOOGLE_CHARGES,
        notification_type in GOOGLE_REFUNDS,
        event_ms,
        *_google_price(line),
    )


def _google_plan(notification_type: int, purchase: dict, event_ms: int, now_ms: int) -> dict | None:
    line = _line(purchase)
    product, expires_ms = line.get("productId"), _rfc3339_ms(line.get("expiryTime"))
    product = product if isinstance(product, str) else None
    expires = _iso(expires_ms)
    if notification_type == GOOGLE_REVOKED:
        return _plan(FREE, "revoked", "google", product, None, event_ms)
    state = purchase.get("subscriptionState")
    if state == "SUBSCRIPTION_STATE_ACTIVE" or (
        state == "SUBSCRIPTION_STATE_CANCELED" and expires_ms and expires_ms > now_ms
    ):
        return _plan(PREMIUM, "active", "google", product, expires, event_ms)
    if state == "SUBSCRIPTION_STATE_IN_GRACE_PERIOD":
        return _plan(PREMIUM, "grace_period", "google", product, expires, event_ms)
    if state in (
        "SUBSCRIPTION_STATE_ON_HOLD",
        "SUBSCRIPTION_STATE_PAUSED",
        "SUBSCRIPTION_STATE_EXPIRED",
        "SUBSCRIPTION_STATE_CANCELED",
    ):
        return _plan(FREE, "expired", "google", product, expires, event_ms)
    return None  # pending purchases and unknown states change nothing


def entry_key(store: str, subscription_id: str) -> str:
    """The profile's key for one store subscription. Google's purchase token is a bearer
    credential for the Play Developer API: only its digest is stored."""
    if store == "google":
        subscription_id = hashlib.sha256(subscription_id.encode()).hexdigest()[:32]
    return f"{store}:{subscription_id}"


_STRENGTH: dict[tuple[str | None, str | None], int] = {(PREMIUM, "active"): 3, (PREMIUM, "grace_period"): 2}


def strongest(entries: dict, now_ms: int) -> dict:
    """The entitlement the user has now: a premium entry (active before grace period,
    then the latest expiry) that has not expired, else the most recent entry's state,
    else the free plan."""

    def premium_rank(plan: dict):
        expires = _rfc3339_ms(plan.get("expires_at"))
        if expires is not None and expires <= now_ms:
            return None
        rank = _STRENGTH.get((plan.get("type"), plan.get("status")))
        return None if rank is None else (rank, expires or 2**62)

    ranked = [(premium_rank(p), p) for p in entries.values()]
    premium = [(r, p) for r, p in ranked if r is not None]
    if premium:
        return max(premium, key=lambda rp: rp[0])[1]
    if entries:
        return max(entries.values(), key=lambda p: int(p.get("event_ms", 0)))
    return dict(users.FREE_PLAN)


def replaced(entry: dict, by: str, event_ms: int) -> dict:
    """What an entry becomes once another purchase replaced it: ended for good (a later
    notification about it is `superseded`), kept so the audit trail shows why it ended."""
    return {
        **entry,
        "type": FREE,
        "status": "expired",
        "provider": entry.get("provider", "google"),
        "product_id": entry.get("product_id"),
        "expires_at": entry.get("expires_at"),
        "event_ms": max(int(entry.get("event_ms", 0)), event_ms),
        "replaced_by": by,
    }


def apply(
    user_id: str, key: str, plan: dict, now_ms: int, attempts: int = 3, replaces: str | None = None
) -> tuple[str, dict, dict]:
    """Records `plan` as the state of subscription `key` of the user, and ends the entry
    `replaces` names (the purchase this one upgraded, downgraded or re-signed up from).
    (applied | stale (a newer state of this subscription is recorded) | superseded (another
    purchase replaced this one) | unknown_user, the current plan before, the current plan after)."""
    for _ in range(attempts):
        item = (
            users.table()
            .get_item(
                Key=users.profile_key(user_id),
                ConsistentRead=True,
                ProjectionExpression="PK, subscriptions, current_subscription, subscriptions_version",
            )
            .get("Item")
        )
        if item is None:
            return "unknown_user", {}, {}
        entries = dict(item.get("subscriptions") or {})
        known = entries.get(key)
        if known is not None and known.get("replaced_by"):
            return "superseded", {}, {}
        if known is not None and int(known.get("event_ms", 0)) >= int(plan["event_ms"]):
            return "stale", {}, {}
        version = int(item.get("subscriptions_version", 0))
        entries[key] = {**plan, "updated_at": now_iso()}
        if replaces and replaces != key and not (entries.get(replaces) or {}).get("replaced_by"):
            old = entries.get(replaces) or {"provider": plan.get("provider"), "product_id": None, "expires_at": None}
            entries[replaces] = {**replaced(old, key, int(plan["event_ms"])), "updated_at": now_iso()}
        current = strongest(entries, now_ms)
        try:
            users.table().update_item(
                Key=users.profile_key(user_id),
                # An account made before analytics ids gets one, so its billing reaches the lake.
                UpdateExpression="SET subscriptions = :entries, current_subscription = :current, "
                "subscriptions_version = :next, updated_at = :now, analytics_id = if_not_exists(analytics_id, :aid)",
                ConditionExpression="attribute_exists(PK) AND (subscriptions_version = :version OR "
                "(attribute_not_exists(subscriptions_version) AND :version = :zero))",
                ExpressionAttributeValues={
                    ":entries": entries,
                    ":current": current,
                    ":next": version + 1,
                    ":version": version,
                    ":zero": 0,
                    ":now": now_iso(),
                    ":aid": str(uuid.uuid4()),
                },
            )
            return "applied", item.get("current_subscription", {}), current
        except ClientError as e:
            if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
    raise RuntimeError("the subscription changed under every attempt")  # Pub/Sub and Apple deliver again
