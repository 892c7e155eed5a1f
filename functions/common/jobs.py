"""Job files in the temp bucket: `incoming/{jobId}` and `outgoing/{jobId}`, where a job
id is `{kind}_{userId}_{timestampMs}_{random}`."""

from __future__ import annotations

from functions.common import aws
from functions.common.settings import settings

KINDS = ("result", "chat", "report")
PREFIXES = ("incoming/", "outgoing/")


def delete_all_of(user_id: str) -> int:
    """Deletes every job file of a user; returns how many were deleted."""
    s3, bucket = aws.client("s3"), settings().require("temp_bucket")
    deleted = 0
    for prefix in PREFIXES:
        for kind in KINDS:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}{kind}_{user_id}_")
            for page in pages:
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
                    deleted += len(keys)
    return deleted
