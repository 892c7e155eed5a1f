"""compaction: merges a day's small audit files into one, once the day is over.

Idempotent and safe to re-run: the merged file is written (deduplicated by event_id)
before any small file is deleted, and a re-run reads the merged file with whatever is
left, so no row is ever lost. Runs daily for the day before its schedule's `time`
(EventBridge puts it in the event), so an event replayed later from the failure queue
compacts the day it was meant for; a given `date` wins; without either, yesterday.

A day written before schema 4 names people by the app's user id: it is rewritten even when
already compacted. Each user id of an account that still exists becomes that account's
analytics id (one BatchGetItem per 100 ids, projected on PK, SK and analytics_id: all the
role may read), so old history joins the new; any other user id (the account is gone, or
was never written since analytics ids) becomes an HMAC under a random key that lives only
for this run (never stored), one id per person for the whole run, which no one can link
back. `{"rewrite_legacy": true}` rewrites every legacy day in one run (the
rewrite-legacy-audit-days procedure, components/procedures.py); it stops before its
timeout and says so (`complete: false`): run it again for the rest.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

from analytics import writer
from functions.common import accounts, aws
from functions.common.observability import count, instrumented, logger
from functions.common.settings import settings

MERGED = "compacted.parquet"


class Pseudonyms:
    """What a legacy user id becomes for one run: the account's analytics id while it has
    one, else an HMAC under this run's random key (forgotten when the run ends)."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._known: dict[str, str] = {}
        self.lookups = 0  # BatchGetItem requests

    def resolve(self, user_ids: set[str]) -> None:
        """Reads the analytics ids of the accounts not seen yet, 100 keys a request."""
        todo = sorted(user_ids - self._known.keys())
        if not todo:
            return
        client, name = aws.client("dynamodb"), settings().require("table_name")
        for start in range(0, len(todo), 100):
            request = {
                name: {
                    "Keys": [
                        {"PK": {"S": f"USER#{u}"}, "SK": {"S": accounts.PROFILE_SK}} for u in todo[start : start + 100]
                    ],
                    "ProjectionExpression": f"PK, SK, {accounts.ANALYTICS_ID}",
                    "ConsistentRead": True,
                }
            }
            while request:
                self.lookups += 1
                answer = client.batch_get_item(RequestItems=request)
                for item in answer["Responses"].get(name, []):
                    if item.get(accounts.ANALYTICS_ID, {}).get("S"):
                        self._known[item["PK"]["S"].removeprefix("USER#")] = item[accounts.ANALYTICS_ID]["S"]
                request = answer.get("UnprocessedKeys") or {}
        for u in todo:
            self._known.setdefault(u, self._random(u))

    def _random(self, user_id: str) -> str:
        return str(uuid.UUID(bytes=hmac.new(self._key, user_id.encode(), hashlib.sha256).digest()[:16], version=4))

    def __call__(self, user_id: str) -> str:
        return self._known.get(user_id) or self._random(user_id)


def compact(day: str, pseudonyms: Pseudonyms | None = None) -> dict:
    s3, bucket = aws.client("s3"), settings().require("events_bucket")
    prefix = writer.partition_prefix(day)
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for o in page.get("Contents", [])
    ]
    small = [k for k in keys if not k.endswith(MERGED)]
    bodies = {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys if k.endswith(MERGED)}
    if not small and not any(writer.is_legacy(b) for b in bodies.values()):
        return {"date": day, "files": len(keys), "merged": 0}
    bodies.update({k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in small})
    pseudonym = pseudonyms or Pseudonyms()
    pseudonym.resolve({u for k in keys for u in writer.legacy_user_ids(bodies[k])})
    tables = [writer.read(bodies[k], pseudonym) for k in keys]
    merged = pa.concat_tables(tables)
    ids = merged.column("event_id").to_pylist()
    first = sorted({v: i for i, v in reversed(list(enumerate(ids)))}.values())  # first row of each event_id
    merged = merged.take(pa.array(first)).sort_by([("event_time", "ascending")])
    s3.put_object(
        Bucket=bucket,
        Key=prefix + MERGED,
        Body=writer.parquet_bytes(merged),
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=settings().require("data_key_arn"),
    )
    for start in range(0, len(small), 1000):
        s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in small[start : start + 1000]], "Quiet": True}
        )
    count("CompactedFiles", len(small))
    logger.info("partition compacted", extra={"date": day, "files": len(small), "rows": merged.num_rows})
    return {
        "date": day,
        "files": len(small),
        "merged": merged.num_rows,
        "duplicates_removed": len(ids) - merged.num_rows,
    }


def legacy_days() -> list[str]:
    """Every day in the lake, oldest first (a day's partition prefix, `event_date=...`)."""
    s3, bucket = aws.client("s3"), settings().require("events_bucket")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=writer.PREFIX, Delimiter="/")
    found = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
    return sorted(f.rstrip("/").partition("=")[2] for f in found)


def rewrite_legacy(context) -> dict:
    """Every day, one run, one pseudonym per person; stops with a minute left."""
    pseudonyms, done, compacted = Pseudonyms(), 0, []
    days = legacy_days()
    for day in days:
        if context is not None and context.get_remaining_time_in_millis() < 60_000:
            break
        if compact(day, pseudonyms)["merged"]:
            compacted.append(day)
        done += 1
    logger.info("legacy days rewritten", extra={"days": len(compacted), "checked": done, "of": len(days)})
    return {
        "complete": done == len(days),
        "checked": done,
        "days": len(days),
        "compacted": compacted,  # legacy days, and days with small files left
        "account_lookups": pseudonyms.lookups,
    }


def day_to_compact(event: dict) -> str:
    if event.get("date"):
        date.fromisoformat(event["date"])  # refuses anything but yyyy-MM-dd
        return event["date"]
    scheduled = datetime.fromisoformat(event["time"].replace("Z", "+00:00")) if event.get("time") else datetime.now(UTC)
    return (scheduled.astimezone(UTC).date() - timedelta(days=1)).isoformat()


@instrumented()
def handler(event, context):
    if (event or {}).get("rewrite_legacy") is True:
        return rewrite_legacy(context)
    return compact(day_to_compact(event or {}))
