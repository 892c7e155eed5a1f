"""Per-user quotas of model-backed work: document analyses, chat messages, doctor reports.

Each is counted per user, per clock hour and per UTC day, by plan, when the job is
created (the upload ticket, the accepted chat message, the accepted report): before
anything else is written and before any model call, so one account cannot spend the
account's Bedrock quota, `process`'s reserved concurrency or the bill (OWASP API4:2023,
LLM10). A count is one transaction of two conditional increments, the hour's and the
day's counter, both or neither: a refused request changes nothing.

Counters are table items `QUOTA#<user id>` / `<kind>#<window>#<window start>`, expiring
by TTL after their window (the stream turns them into no audit event). The limits come
from the stack's `serenya:quotas` (components/config.py validates them with `problems`
below) through the QUOTAS environment variable.

Standard library and the functions' own helpers only: imported by the Pulumi program too.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

KEY_PREFIX = "QUOTA#"
KINDS = ("documents", "chat_messages", "doctor_reports")  # catalog entries name the one they count
PLANS = ("free", "premium")
WINDOWS = (("hour", 3600), ("day", 86400))
COUNT_ATTRIBUTE = "used"
# A counter outlives its window by a day, for the profile's view and investigations;
# DynamoDB's TTL deletes it within a few days after that.
TTL_GRACE_SECONDS = 86400
MAX_LIMIT = 100_000

# Defaults: a free account analyses a handful of documents and asks a few dozen questions a
# day; premium six times the documents, about three times the questions and a few doctor
# reports. Free accounts cannot start doctor reports at all (premium_required). What one
# account can make the model bill at these limits, at worst, is `make cost`'s ceiling
# (cost/abuse.py): the chat's 256 KiB context is what drives it.
DEFAULT_LIMITS: dict[str, dict[str, dict[str, int]]] = {
    "free": {
        "documents": {"hour": 3, "day": 5},
        "chat_messages": {"hour": 10, "day": 30},
        "doctor_reports": {"hour": 0, "day": 0},
    },
    "premium": {
        "documents": {"hour": 10, "day": 30},
        "chat_messages": {"hour": 30, "day": 100},
        "doctor_reports": {"hour": 2, "day": 5},
    },
}


@dataclass(frozen=True)
class Refusal:
    """Over a limit: which window, and when the request may be tried again."""

    kind: str
    window: str
    retry_after: int  # seconds

    def describe(self) -> str:
        what = self.kind.replace("_", " ")
        if self.window == BUSY:
            return f"too many of your {what} requests at once"
        return f"the {self.window}ly limit of {what} of your plan is reached"


# The window of a refusal that is no limit's: the user's own concurrent requests held the
# counters through every attempt. 429 and a second's wait, like a limit: never a 5xx
# (which would page) for what one user's client does.
BUSY = "concurrent"


class QuotaExceeded(Exception):
    def __init__(self, refusal: Refusal):
        super().__init__(refusal.describe())
        self.refusal = refusal


def problems(value: Any) -> list[str]:
    """What is wrong with a `serenya:quotas` value (empty when it is usable): every plan,
    kind and window present, whole numbers in 0..MAX_LIMIT, an hour at most its day."""
    if not isinstance(value, dict):
        return ["must be a mapping {free: {documents: {hour: n, day: n}, ...}, premium: {...}}"]
    found = []
    for plan in sorted(set(value) - set(PLANS)):
        found.append(f"{plan}: not a plan ({', '.join(PLANS)})")
    for plan in PLANS:
        kinds = value.get(plan)
        if not isinstance(kinds, dict):
            found.append(f"{plan}: missing, must map {', '.join(KINDS)} to their limits")
            continue
        for kind in sorted(set(kinds) - set(KINDS)):
            found.append(f"{plan}.{kind}: not a kind of model work ({', '.join(KINDS)})")
        for kind in KINDS:
            limits = kinds.get(kind)
            if not isinstance(limits, dict) or set(limits) != {w for w, _ in WINDOWS}:
                found.append(f"{plan}.{kind}: must be {{hour: <n>, day: <n>}}")
                continue
            bad = [
                w for w, n in limits.items() if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_LIMIT
            ]
            if bad:
                found.append(f"{plan}.{kind}: {', '.join(sorted(bad))} must be a whole number in 0..{MAX_LIMIT}")
            elif limits["hour"] > limits["day"]:
                found.append(f"{plan}.{kind}: hour {limits['hour']} exceeds day {limits['day']}")
    return found


def limits() -> Mapping[str, Mapping[str, Mapping[str, int]]]:
    """The stack's limits (QUOTAS), or the defaults where a function runs without them."""
    raw = os.environ.get("QUOTAS")
    return json.loads(raw) if raw else DEFAULT_LIMITS


def holder(identity: str) -> str:
    """Whose counters: the person's external identity (provider and subject), hashed, so
    that deleting an account and onboarding again with the same Google or Apple account
    finds the same counters, and the provider's id is not stored a second time."""
    import hashlib

    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def plan_of(subscription: Mapping[str, Any] | None) -> str:
    """The plan whose limits apply: premium while the subscription entitles to it."""
    from functions.common.users import PREMIUM_STATUSES

    s = subscription or {}
    return "premium" if s.get("type") == "premium" and s.get("status") in PREMIUM_STATUSES else "free"


def _window_start(now: float, seconds: int) -> int:
    return int(now // seconds) * seconds


def _key(user_id: str, kind: str, window: str, start: int) -> dict[str, str]:
    return {"PK": f"{KEY_PREFIX}{user_id}", "SK": f"{kind}#{window}#{start}"}


@dataclass(frozen=True)
class Counted:
    """What `consume` counted: the counters `refund` gives back."""

    keys: tuple[dict, ...]


def refund(counted: Counted) -> None:
    """Gives back what `consume` counted, when the job could not be created after all (a
    request that fails changes nothing). Best effort: a failed refund costs the user one
    count of the window, never more."""
    from functions.common import aws
    from functions.common.observability import logger
    from functions.common.settings import settings

    if not counted.keys:  # nothing was counted (the canary's)
        return
    try:
        aws.client("dynamodb").transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": settings().require("table_name"),
                        "Key": key,
                        "UpdateExpression": "ADD #used :minus",
                        "ConditionExpression": "#used > :zero",
                        "ExpressionAttributeNames": {"#used": COUNT_ATTRIBUTE},
                        "ExpressionAttributeValues": {":minus": {"N": "-1"}, ":zero": {"N": "0"}},
                    }
                }
                for key in counted.keys
            ]
        )
    except Exception as e:  # the request is failing already: its own error is the one to report
        logger.warning("quota refund failed", extra={"error_type": type(e).__name__})


def consume(user_id: str, kind: str, plan: str, now: float | None = None) -> Counted:
    """Counts one `kind` for the user, or raises QuotaExceeded and counts nothing. The
    canary's work (functions/common/canary.py) is nobody's use of the app: never counted."""
    from functions.common.canary import CANARY_USER_ID

    if user_id == holder(CANARY_USER_ID):  # its profile has no external identity: its id is it
        return Counted(())
    from botocore.exceptions import ClientError

    from functions.common import aws
    from functions.common.settings import settings

    now = time.time() if now is None else now
    caps = limits()[plan][kind]
    closed = [(w, s) for w, s in WINDOWS if caps[w] == 0]
    if closed:  # a limit of 0: refused without a write (e.g. doctor reports on the free plan)
        raise QuotaExceeded(_refusal(kind, WINDOWS[-1], now))
    name = settings().require("table_name")
    items: list[dict] = []
    for window, seconds in WINDOWS:
        start = _window_start(now, seconds)
        items.append(
            {
                "Update": {
                    "TableName": name,
                    "Key": {k: {"S": v} for k, v in _key(user_id, kind, window, start).items()},
                    "UpdateExpression": "ADD #used :one SET #ttl = if_not_exists(#ttl, :ttl)",
                    "ConditionExpression": "attribute_not_exists(#used) OR #used < :limit",
                    "ExpressionAttributeNames": {"#used": COUNT_ATTRIBUTE, "#ttl": "ttl"},
                    "ExpressionAttributeValues": {
                        ":one": {"N": "1"},
                        ":limit": {"N": str(caps[window])},
                        ":ttl": {"N": str(start + seconds + TTL_GRACE_SECONDS)},
                    },
                }
            }
        )
    for attempt in range(3):
        try:
            aws.client("dynamodb").transact_write_items(TransactItems=items)
            return Counted(tuple(item["Update"]["Key"] for item in items))
        except ClientError as e:
            reasons = [r.get("Code") for r in e.response.get("CancellationReasons", [])]
            full = [WINDOWS[i] for i, code in enumerate(reasons[: len(WINDOWS)]) if code == "ConditionalCheckFailed"]
            if full:  # the longest full window decides when to come back
                raise QuotaExceeded(_refusal(kind, full[-1], now)) from None
            if "TransactionConflict" not in reasons:
                raise
            if attempt == 2:
                raise QuotaExceeded(Refusal(kind, BUSY, 1)) from None
            # The same user's concurrent request holds the counters: a short, bounded wait.
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
    raise AssertionError  # unreachable: the third attempt returns or raises


def _refusal(kind: str, window: tuple[str, int], now: float) -> Refusal:
    name, seconds = window
    return Refusal(kind, name, max(1, int(_window_start(now, seconds) + seconds - now + 0.999)))


def status(user_id: str, plan: str, now: float | None = None) -> dict[str, dict[str, Any]]:
    """What the profile shows for each kind: the window that binds now (the least left,
    then the later reset), its use, its limit and when it resets (ISO 8601 UTC).
    One BatchGetItem of the current windows' counters."""
    from datetime import datetime

    from functions.common import aws
    from functions.common.settings import settings

    now = time.time() if now is None else now
    name = settings().require("table_name")
    keys = [
        (kind, window, seconds, _key(user_id, kind, window, _window_start(now, seconds)))
        for kind in KINDS
        for window, seconds in WINDOWS
    ]
    answer = aws.client("dynamodb").batch_get_item(
        RequestItems={
            name: {
                "Keys": [{k: {"S": v} for k, v in key.items()} for *_, key in keys],
                "ProjectionExpression": "SK, #used",
                "ExpressionAttributeNames": {"#used": COUNT_ATTRIBUTE},
                "ConsistentRead": True,
            }
        }
    )
    used = {i["SK"]["S"]: int(i[COUNT_ATTRIBUTE]["N"]) for i in answer.get("Responses", {}).get(name, [])}
    caps = limits()[plan]
    shown: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        options = []
        for k, window, seconds, key in keys:
            if k != kind:
                continue
            resets = _window_start(now, seconds) + seconds
            count, limit = used.get(key["SK"], 0), caps[kind][window]
            options.append(
                (
                    limit - count,
                    -resets,
                    {
                        "used": count,
                        "limit": limit,
                        "resets_at": datetime.fromtimestamp(resets, UTC).isoformat().replace("+00:00", "Z"),
                    },
                )
            )
        shown[kind] = min(options, key=lambda o: (o[0], o[1]))[2]
    return shown
