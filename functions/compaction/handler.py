"""compaction: merges a day's small audit files into one, once the day is over.

Idempotent and safe to re-run: the merged file is written (deduplicated by event_id)
before any small file is deleted, and a re-run reads the merged file with whatever is
left, so no row is ever lost. Runs daily for the day before its schedule's `time`
(EventBridge puts it in the event), so an event replayed later from the failure queue
compacts the day it was meant for; a given `date` wins; without either, yesterday.

A day written before schema 4 names people by the app's user id: it is rewritten even when
already compacted, each user id replaced by an HMAC under a random key that lives only for
this run (never stored), so the day's counts of people stay right and no row can be linked
back to a user id, not even by us. Run it with `date` for each day before the upgrade.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

from analytics import writer
from functions.common import aws
from functions.common.observability import count, instrumented, logger
from functions.common.settings import settings

MERGED = "compacted.parquet"


def compact(day: str) -> dict:
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
    key = secrets.token_bytes(32)  # forgotten when the run ends: the pseudonyms cannot be recomputed

    def pseudonym(user_id: str) -> str:
        return str(uuid.UUID(bytes=hmac.new(key, user_id.encode(), hashlib.sha256).digest()[:16], version=4))

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


def day_to_compact(event: dict) -> str:
    if event.get("date"):
        date.fromisoformat(event["date"])  # refuses anything but yyyy-MM-dd
        return event["date"]
    scheduled = datetime.fromisoformat(event["time"].replace("Z", "+00:00")) if event.get("time") else datetime.now(UTC)
    return (scheduled.astimezone(UTC).date() - timedelta(days=1)).isoformat()


@instrumented()
def handler(event, context):
    return compact(day_to_compact(event or {}))
