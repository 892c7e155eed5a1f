"""Audit events from DynamoDB stream records (NEW_AND_OLD_IMAGES) of profile items.

A record yields zero or more events: an INSERT is a registration (and its consents), a
REMOVE a deletion, a MODIFY whatever changed (sign-in, plan, device, consents, other
profile fields - by name only). Other items (identities, idempotency records) yield
nothing. Event ids are derived from the record, so a redelivered record yields the
same ids and duplicates can be removed by event_id.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any, Iterator, Optional

from analytics.schema import EVENT_TYPES, SCHEMA_VERSION

# Attributes that are bookkeeping, not a change a person made.
_NOT_PROFILE_CHANGES = {"updated_at", "last_sign_in_at", "session", "device", "consents", "current_subscription",
                        "subscriptions", "subscriptions_version",
                        "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "PK", "SK", "user_id", "data_key", "created_at"}


def _plain(value: dict) -> Any:
    """A DynamoDB attribute value (stream JSON) as plain Python."""
    (kind, inner), = value.items()
    if kind == "M":
        return {k: _plain(v) for k, v in inner.items()}
    if kind == "L":
        return [_plain(v) for v in inner]
    if kind == "N":
        return float(inner) if "." in inner else int(inner)
    if kind == "NULL":
        return None
    return inner  # S, B, BOOL, SS, NS, BS


def image(record: dict, which: str) -> Optional[dict]:
    raw = (record.get("dynamodb") or {}).get(which)
    return {k: _plain(v) for k, v in raw.items()} if raw else None


def _event_time(record: dict) -> datetime:
    seconds = (record.get("dynamodb") or {}).get("ApproximateCreationDateTime")
    if isinstance(seconds, (int, float)):
        return datetime.fromtimestamp(seconds if seconds < 1e11 else seconds / 1000, timezone.utc)
    return datetime.now(timezone.utc)


def _field(name: str) -> str:
    return name[:-4] if name.endswith("_enc") else name


def derive(record: dict, ingested_at: Optional[datetime] = None) -> list[dict]:
    """The audit events of one stream record (possibly none)."""
    keys = {k: _plain(v) for k, v in ((record.get("dynamodb") or {}).get("Keys") or {}).items()}
    if keys.get("SK") != "PROFILE" or not str(keys.get("PK", "")).startswith("USER#"):
        return []
    user_id = str(keys["PK"]).removeprefix("USER#")
    old, new = image(record, "OldImage"), image(record, "NewImage")
    base = {"user_id": user_id, "event_time": _event_time(record), "source": "dynamodb_stream",
            "stream_sequence": str(record["dynamodb"]["SequenceNumber"]), "schema_version": SCHEMA_VERSION,
            "ingested_at": ingested_at or datetime.now(timezone.utc)}
    current = new or old or {}
    context = {"auth_provider": current.get("auth_provider"),
               "device_platform": (current.get("device") or {}).get("platform")}
    events = list(_changes(record.get("eventName"), old, new))
    return [_event(record, base, context, kind, discriminator, fields) for kind, discriminator, fields in events]


def _changes(name: Optional[str], old: Optional[dict], new: Optional[dict]) -> Iterator[tuple[str, str, dict]]:
    if name == "INSERT" and new:
        plan = new.get("current_subscription") or {}
        yield "user_registered", "", {"new_plan": plan.get("type", "free"),
                                      "subscription_status": plan.get("status", "active")}
        for consent, value in sorted((new.get("consents") or {}).items()):
            yield "consent_updated", consent, {"consent_type": consent, "consent_version": value.get("version")}
    elif name == "REMOVE":
        yield "user_deleted", "", {}
    elif name == "MODIFY" and old and new:
        if (old.get("session") or {}).get("id") != (new.get("session") or {}).get("id"):
            yield "signed_in", (new.get("session") or {}).get("id", ""), {}
        before, after = old.get("current_subscription") or {}, new.get("current_subscription") or {}
        if (before.get("type"), before.get("status")) != (after.get("type"), after.get("status")):
            yield "subscription_changed", f"{after.get('type')}/{after.get('status')}", {
                "old_plan": before.get("type", "free"), "new_plan": after.get("type"),
                "subscription_status": after.get("status")}
        old_device, new_device = old.get("device") or {}, new.get("device") or {}
        if (old_device.get("device_id"), old_device.get("platform")) != \
                (new_device.get("device_id"), new_device.get("platform")):
            yield "device_changed", str(new_device.get("device_id", "")), {}
        old_consents, new_consents = old.get("consents") or {}, new.get("consents") or {}
        for consent in sorted(new_consents):
            a, b = old_consents.get(consent) or {}, new_consents[consent]
            if (a.get("version"), a.get("accepted")) != (b.get("version"), b.get("accepted")):
                yield "consent_updated", consent, {"consent_type": consent, "consent_version": b.get("version")}
        changed = sorted({_field(k) for k in set(old) | set(new)
                          if k not in _NOT_PROFILE_CHANGES and old.get(k) != new.get(k)})
        if changed:
            yield "profile_updated", ",".join(changed), {"changed_fields": changed}


def _event(record: dict, base: dict, context: dict, kind: str, discriminator: str, fields: dict) -> dict:
    class_uid, activity_id, _ = EVENT_TYPES[kind]
    seed = f"{record.get('eventID')}:{record['dynamodb']['SequenceNumber']}:{kind}:{discriminator}"
    return {**base, **context, "event_id": hashlib.sha256(seed.encode()).hexdigest()[:32], "event_type": kind,
            "class_uid": class_uid, "activity_id": activity_id, "old_plan": None, "new_plan": None,
            "subscription_status": None, "consent_type": None, "consent_version": None, "changed_fields": None,
            **fields}


def event_date(event: dict) -> str:
    return event["event_time"].strftime("%Y-%m-%d")
