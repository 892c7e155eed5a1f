"""Audit events from DynamoDB stream records (NEW_AND_OLD_IMAGES) of profile and usage items.

A profile record yields zero or more events: an INSERT is a registration (and its
consents), a REMOVE a deletion, a MODIFY whatever changed (sign-in, plan, device,
consents, a store's billing or refund, other profile fields - by name only). A usage
record's INSERT (functions/common/usage.py) is a `document_processed`, and for a premium
feature also a `premium_feature_used`; an upload ticket's an `upload_ticket_issued`. Their
overwrite by a retry and their expiry yield nothing. Other items (identities, idempotency
records) yield nothing. Event ids are derived from the record, so a redelivered record yields the same ids and
duplicates can be removed by event_id.

Event times carry milliseconds: the stream stamps a record to the second only, so the
item's own time (`updated_at`, `finished_at`) gives the milliseconds when it falls in
that second; ties are ordered by the stream's sequence number.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from analytics.schema import EVENT_TYPES, SCHEMA, SCHEMA_VERSION
from functions.common import usage

# Attributes that are bookkeeping, not a change a person made.
_NOT_PROFILE_CHANGES = {
    "updated_at",
    "last_sign_in_at",
    "session",
    "device",
    "consents",
    "current_subscription",
    "subscriptions",
    "subscriptions_version",
    "GSI1PK",
    "GSI1SK",
    "GSI2PK",
    "GSI2SK",
    "PK",
    "SK",
    "user_id",
    "analytics_id",
    "data_key",
    "created_at",
}


def _plain(value: dict) -> Any:
    """A DynamoDB attribute value (stream JSON) as plain Python."""
    ((kind, inner),) = value.items()
    if kind == "M":
        return {k: _plain(v) for k, v in inner.items()}
    if kind == "L":
        return [_plain(v) for v in inner]
    if kind == "N":
        return float(inner) if "." in inner else int(inner)
    if kind == "NULL":
        return None
    return inner  # S, B, BOOL, SS, NS, BS


def image(record: dict, which: str) -> dict | None:
    raw = (record.get("dynamodb") or {}).get(which)
    return {k: _plain(v) for k, v in raw.items()} if raw else None


def _iso_ms(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int(moment.timestamp() * 1000) if moment.tzinfo else None


def _moment(value: Any) -> datetime | None:
    ms = _iso_ms(value)
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def _event_time(record: dict, item: dict | None, field: str) -> datetime:
    """The stream's time (whole seconds), with the milliseconds of the item's own time
    `field` when that falls within the same second (a stale or skewed time gives none)."""
    seconds = (record.get("dynamodb") or {}).get("ApproximateCreationDateTime")
    if not isinstance(seconds, (int, float)):
        return datetime.now(UTC)
    stream_ms = int(seconds * 1000 if seconds < 1e11 else seconds)
    own_ms = _iso_ms((item or {}).get(field))
    if own_ms is not None and stream_ms <= own_ms < stream_ms - stream_ms % 1000 + 1000:
        stream_ms = own_ms
    return datetime.fromtimestamp(stream_ms / 1000, UTC)


def _field(name: str) -> str:
    return name[:-4] if name.endswith("_enc") else name


def derive(
    record: dict, ingested_at: datetime | None = None, unattributed: Callable[[str], None] | None = None
) -> list[dict]:
    """The audit events of one stream record (possibly none). An event of an item with no
    analytics id is not kept (the lake never holds a user id): `unattributed` is told its type."""
    keys = {k: _plain(v) for k, v in ((record.get("dynamodb") or {}).get("Keys") or {}).items()}
    pk = str(keys.get("PK", ""))
    old, new = image(record, "OldImage"), image(record, "NewImage")
    sk = str(keys.get("SK", ""))
    if pk.startswith(usage.KEY_PREFIX) and sk.startswith((usage.JOB_PREFIX, usage.TICKET_PREFIX)):
        if record.get("eventName") != "INSERT" or not new:
            return []  # a retried job's overwrite, or the record's expiry
        analytics_id, context = new.get("analytics_id"), {}
        if sk.startswith(usage.TICKET_PREFIX):
            time_field = "issued_at"
            events = [
                ("upload_ticket_issued", "", {"job_kind": new.get("job_kind"), "input_type": new.get("input_type")})
            ]
        else:
            time_field, events = "finished_at", list(_usage(new))
    elif keys.get("SK") == "PROFILE" and pk.startswith("USER#"):
        current = new or old or {}
        analytics_id, time_field = current.get("analytics_id"), "updated_at"
        context = {
            "auth_provider": current.get("auth_provider"),
            "device_platform": (current.get("device") or {}).get("platform"),
        }
        events = list(_changes(record.get("eventName"), old, new))
    else:
        return []
    if not analytics_id:
        # An account made before analytics ids and not signed in or written since (any
        # profile write gives it one), or a usage record of such an account.
        if unattributed is not None:
            for kind, _, _ in events:
                unattributed(kind)
        return []
    base = {
        "analytics_id": analytics_id,
        "event_time": _event_time(record, new or old, time_field),
        "source": "dynamodb_stream",
        "stream_sequence": str(record["dynamodb"]["SequenceNumber"]),
        "schema_version": SCHEMA_VERSION,
        "ingested_at": ingested_at or datetime.now(UTC),
    }
    return [_event(record, base, context, kind, discriminator, fields) for kind, discriminator, fields in events]


def _usage(item: dict) -> Iterator[tuple[str, str, dict]]:
    fields = {
        "job_kind": item.get("job_kind"),
        "outcome": item.get("outcome"),
        "error_code": item.get("error_code"),
        "model_id": item.get("model_id"),
        "latency_ms": item.get("latency_ms"),
        "input_tokens": item.get("input_tokens"),
        "output_tokens": item.get("output_tokens"),
        "input_type": item.get("input_type"),
        "page_count": item.get("page_count"),
        "observation_count": item.get("observation_count"),
        "uploaded_at": _moment(item.get("uploaded_at")),
    }
    yield "document_processed", "", fields
    if item.get("job_kind") in usage.PREMIUM_KINDS:
        yield "premium_feature_used", "", fields


def _billing(old: dict, new: dict) -> Iterator[tuple[str, str, dict]]:
    """A store's billing or refund, per subscription entry (functions/subscriptions/state.py
    stamps `charged_ms` / `refunded_ms` with the notification's time, so each is seen once)."""
    before, after = old.get("subscriptions") or {}, new.get("subscriptions") or {}
    for key in sorted(after):
        entry, previous = after[key] or {}, before.get(key) or {}
        for stamp, kind in (("charged_ms", "subscription_charged"), ("refunded_ms", "subscription_refunded")):
            if entry.get(stamp) is not None and entry.get(stamp) != previous.get(stamp):
                yield (
                    kind,
                    f"{key}:{entry[stamp]}",
                    {
                        "store": entry.get("provider"),
                        "product_id": entry.get("product_id"),
                        "price_milli": entry.get("price_milli"),
                        "currency": entry.get("currency"),
                    },
                )


def _consent(consent: str, before: dict, after: dict) -> dict:
    """What a consent's answer is (GDPR Art. 7(1), 7(3)): given when accepted; withdrawn
    when one accepted before is no longer; refused when never accepted."""
    if after.get("accepted") is True:
        answer = "given"
    else:
        answer = "withdrawn" if before.get("accepted") is True else "refused"
    return {"consent_type": consent, "consent_version": after.get("version"), "consent_answer": answer}


def _changes(name: str | None, old: dict | None, new: dict | None) -> Iterator[tuple[str, str, dict]]:
    if name in ("INSERT", "MODIFY") and new:
        yield from _billing(old or {}, new)
    if name == "INSERT" and new:
        plan = new.get("current_subscription") or {}
        yield (
            "user_registered",
            "",
            {"new_plan": plan.get("type", "free"), "subscription_status": plan.get("status", "active")},
        )
        for consent, value in sorted((new.get("consents") or {}).items()):
            yield "consent_updated", consent, _consent(consent, {}, value)
    elif name == "REMOVE":
        yield "user_deleted", "", {}
    elif name == "MODIFY" and old and new:
        if (old.get("session") or {}).get("id") != (new.get("session") or {}).get("id"):
            yield "signed_in", (new.get("session") or {}).get("id", ""), {}
        before, after = old.get("current_subscription") or {}, new.get("current_subscription") or {}
        if (before.get("type"), before.get("status")) != (after.get("type"), after.get("status")):
            yield (
                "subscription_changed",
                f"{after.get('type')}/{after.get('status')}",
                {
                    "old_plan": before.get("type", "free"),
                    "new_plan": after.get("type"),
                    "subscription_status": after.get("status"),
                },
            )
        old_device, new_device = old.get("device") or {}, new.get("device") or {}
        if (old_device.get("device_id"), old_device.get("platform")) != (
            new_device.get("device_id"),
            new_device.get("platform"),
        ):
            yield "device_changed", str(new_device.get("device_id", "")), {}
        old_consents, new_consents = old.get("consents") or {}, new.get("consents") or {}
        for consent in sorted(new_consents):
            a, b = old_consents.get(consent) or {}, new_consents[consent]
            if (a.get("version"), a.get("accepted")) != (b.get("version"), b.get("accepted")):
                yield "consent_updated", consent, _consent(consent, a, b)
        changed = sorted(
            {_field(k) for k in set(old) | set(new) if k not in _NOT_PROFILE_CHANGES and old.get(k) != new.get(k)}
        )
        if changed:
            yield "profile_updated", ",".join(changed), {"changed_fields": changed}


# Every column an event kind does not set is null.
_EMPTY = {name: None for name in SCHEMA.names}


def _event(record: dict, base: dict, context: dict, kind: str, discriminator: str, fields: dict) -> dict:
    class_uid, activity_id, _ = EVENT_TYPES[kind]
    seed = f"{record.get('eventID')}:{record['dynamodb']['SequenceNumber']}:{kind}:{discriminator}"
    return {
        **_EMPTY,
        **base,
        **context,
        "event_id": hashlib.sha256(seed.encode()).hexdigest()[:32],
        "event_type": kind,
        "class_uid": class_uid,
        "activity_id": activity_id,
        **fields,
    }


def event_date(event: dict) -> str:
    return event["event_time"].strftime("%Y-%m-%d")
