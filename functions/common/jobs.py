"""Jobs live in the temp bucket only: `incoming/{jobId}` is the input, `outgoing/{jobId}`
the outcome. A job id is `{kind}_{userId}_{timestampMs}_{random}`; the user id inside it
is the only ownership there is, so every route parses the id strictly and compares the
user exactly: anything else, malformed ids included, is "not found".

A delivery of `incoming/{jobId}` claims the job with a conditional write of
`claims/{jobId}` before any model call, so S3's repeated deliveries pay for one call.

State, from two HEAD requests and the clock:
    outgoing present             -> completed | failed (from the object's metadata),
                                    or not found when it is cleanup's tombstone
    incoming present             -> processing, or failed/processing_timeout after 15 min
    neither, inside upload window -> pending (result jobs only: the app is uploading)
    neither                      -> not found (never uploaded, expired, or cleaned up)

Cleanup replaces the outcome with an empty tombstone (metadata status `deleted`) before
it deletes the input and the claim: status and result answer "not found" at once, even
inside the upload window, with no extra request on their path; an upload or a model
reply that lands afterwards cannot bring the job back (the outcome is written only if
none exists, and process leaves a tombstoned job alone). The tombstone expires with the
job files.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass

from botocore.exceptions import ClientError

from functions.common import aws
from functions.common.clock import now_iso
from functions.common.observability import log_job
from functions.common.settings import settings

KINDS = ("result", "chat", "report")
PREFIXES = ("incoming/", "outgoing/", "claims/")  # everything under them names its user
UPLOAD_URL_SECONDS = 300  # presigned POSTs expire quickly
UPLOAD_WINDOW_SECONDS = UPLOAD_URL_SECONDS + 60  # an upload started at expiry may still land
PROCESSING_TIMEOUT_SECONDS = 15 * 60
CLOCK_SKEW_MS = 60_000
STATUS_META, ERROR_META = "status", "error-code"
DELETED = "deleted"  # the status metadata of cleanup's tombstone
# [0-9], not \d: \d matches every Unicode digit ("٣", Arabic-Indic), which int() reads
# too, so one job would have many spellings.
_JOB_ID = re.compile(
    r"^(result|chat|report)_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"_([0-9]{13})_([A-Za-z0-9]{16})$"
)


@dataclass(frozen=True)
class JobId:
    kind: str
    user_id: str
    created_ms: int
    value: str

    @property
    def incoming(self) -> str:
        return f"incoming/{self.value}"

    @property
    def outgoing(self) -> str:
        return f"outgoing/{self.value}"

    @property
    def claim(self) -> str:
        return f"claims/{self.value}"


def new_job_id(kind: str, user_id: str, now_ms: int | None = None) -> JobId:
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = f"{kind}_{user_id}_{now_ms}_{secrets.token_hex(8)}"
    log_job(value, kind)
    return JobId(kind, user_id, now_ms, value)


def parse(job_id: str) -> JobId | None:
    """The job id when it is well formed and not from the future; None otherwise."""
    match = _JOB_ID.fullmatch(job_id or "")  # fullmatch: "$" would accept a trailing newline
    if not match or int(match[3]) > time.time() * 1000 + CLOCK_SKEW_MS:
        return None
    return JobId(match[1], match[2], int(match[3]), job_id)


def owned(job_id: str, user_id: str, kinds: tuple[str, ...] = KINDS) -> JobId | None:
    """The parsed id when it is of an accepted kind and the caller's own (exact match)."""
    job = parse(job_id)
    if job is None or job.kind not in kinds or job.user_id != user_id:
        return None
    log_job(job.value, job.kind)  # only a well-formed id of the caller's: never what a stranger sent
    return job


@dataclass(frozen=True)
class JobState:
    status: str  # pending | processing | completed | failed | not_found
    error_code: str | None = None

    @property
    def error(self) -> dict | None:
        if self.error_code is None:
            return None
        return {"code": self.error_code, "message": ERROR_MESSAGES.get(self.error_code, "the job failed")}


ERROR_MESSAGES = {
    "processing_timeout": "the job did not finish within 15 minutes",
    "unreadable_document": "the file could not be read as a lab report",
    "document_too_long": "the document has more than 100 pages",
    "document_too_large": "the document is larger than the 4.5 MB the analysis accepts",
    "unsupported_document": "this kind of file cannot be analysed here",
    "invalid_request": "the job's input was not valid",
    "invalid_model_reply": "the analysis did not produce a valid result",
    "model_unavailable": "the analysis service was unavailable; try again",
    "no_lab_values": "no lab values were found in the document",
}


def _head(key: str) -> dict | None:
    try:
        return aws.client("s3").head_object(Bucket=settings().require("temp_bucket"), Key=key)
    except ClientError as e:
        if e.response["Error"]["Code"] == "404":  # a HEAD reply has no body: botocore names its status
            return None
        raise


def outcome_status(job: JobId) -> str | None:
    """completed, failed or DELETED when outgoing/ holds something; None otherwise."""
    outgoing = _head(job.outgoing)
    return None if outgoing is None else outgoing["Metadata"].get(STATUS_META, "completed")


def _state_of(metadata: dict) -> JobState:
    status = metadata.get(STATUS_META, "completed")
    return JobState("not_found") if status == DELETED else JobState(status, metadata.get(ERROR_META))


def state(job: JobId, now: float | None = None) -> JobState:
    now = time.time() if now is None else now
    outgoing = _head(job.outgoing)
    if outgoing is not None:
        return _state_of(outgoing["Metadata"])  # botocore's {} when the object has none
    incoming = _head(job.incoming)
    if incoming is not None:
        if now - incoming["LastModified"].timestamp() > PROCESSING_TIMEOUT_SECONDS:
            return JobState("failed", "processing_timeout")
        return JobState("processing")
    # The job may have finished between the two reads (process writes outgoing/, then
    # deletes incoming/): read outgoing/ once more before answering that it was never
    # uploaded (pending) or does not exist (404).
    outgoing = _head(job.outgoing)
    if outgoing is not None:
        return _state_of(outgoing["Metadata"])
    if job.kind == "result" and now * 1000 - job.created_ms <= UPLOAD_WINDOW_SECONDS * 1000:
        return JobState("pending")
    return JobState("not_found")


def _get_outgoing(job: JobId) -> dict | None:
    try:
        return aws.client("s3").get_object(Bucket=settings().require("temp_bucket"), Key=job.outgoing)
    except ClientError as e:
        if e.response["Error"]["Code"] == "NoSuchKey":  # not NoSuchBucket: a misconfiguration stays loud
            return None
        raise


def outcome_or_state(job: JobId) -> tuple[dict | None, JobState]:
    """The outcome when there is one (one GET on the common path), else the state.
    An outcome written between the GET and the HEADs is read again, never reported
    as completed without its content; a tombstone is "not found" from that same GET."""
    for _ in range(2):
        found = _get_outgoing(job)
        if found is not None:
            if found["Metadata"].get(STATUS_META) == DELETED:
                return None, JobState("not_found")
            outcome = json.loads(found["Body"].read())
            return outcome, JobState(outcome["status"], (outcome.get("error") or {}).get("code"))
        current = state(job)
        if current.status not in ("completed", "failed") or current.error_code == "processing_timeout":
            return None, current
    return None, current


def write_input(job: JobId, payload: dict) -> None:
    """Input of a chat or report job; its arrival under incoming/ starts processing."""
    aws.client("s3").put_object(
        Bucket=settings().require("temp_bucket"),
        Key=job.incoming,
        Body=json.dumps(payload, allow_nan=False).encode(),
        ContentType="application/json",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=settings().require("data_key_arn"),
    )


# What S3 answers a conditional write that lost (If-None-Match on an existing key, or a
# concurrent conditional write): https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
_LOST_CONDITION = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")


def _put_once(key: str, body: bytes, **extra) -> bool:
    """Writes `key` only if it does not exist yet; False when another writer was first."""
    try:
        aws.client("s3").put_object(
            Bucket=settings().require("temp_bucket"),
            Key=key,
            Body=body,
            IfNoneMatch="*",
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=settings().require("data_key_arn"),
            **extra,
        )
    except ClientError as e:
        if e.response["Error"]["Code"] in _LOST_CONDITION:
            return False
        raise
    return True


def write_outcome(job: JobId, outcome: dict) -> bool:
    """Writes the job's outcome once: a terminal state is never overwritten (False when
    the job already had one)."""
    status = outcome["status"]
    metadata = {STATUS_META: status}
    if status == "failed":
        metadata[ERROR_META] = outcome["error"]["code"]
    # allow_nan=False: what the result route serves is JSON (RFC 8259, section 6) or not stored
    return _put_once(
        job.outgoing, json.dumps(outcome, allow_nan=False).encode(), ContentType="application/json", Metadata=metadata
    )


def claim(job: JobId, owner: str) -> bool:
    """Claims the job for one invocation (`owner`: its request id, which Lambda keeps
    across retries of the same event): True for the first claimant and for its retries,
    False for any other delivery of the same upload."""
    if _put_once(job.claim, owner.encode(), ContentType="text/plain"):
        return True
    try:
        holder = aws.client("s3").get_object(Bucket=settings().require("temp_bucket"), Key=job.claim)["Body"].read()
    except ClientError as e:
        if e.response["Error"]["Code"] == "NoSuchKey":
            return False  # claimed and released meanwhile: the other delivery is done
        raise
    return holder.decode() == owner


def completed(job: JobId, key: str, value: dict) -> dict:
    return {"job_id": job.value, "status": "completed", key: value, "completed_at": now_iso()}


def failed(job: JobId, code: str) -> dict:
    return {
        "job_id": job.value,
        "status": "failed",
        "error": {"code": code, "message": ERROR_MESSAGES.get(code, "the job failed")},
        "completed_at": now_iso(),
    }


def delete(job: JobId) -> None:
    """Replaces the outcome with a tombstone (first, so a job still running cannot write
    one afterwards), then deletes the input and the claim."""
    s3, bucket = aws.client("s3"), settings().require("temp_bucket")
    s3.put_object(
        Bucket=bucket,
        Key=job.outgoing,
        Body=b"",
        ContentType="application/octet-stream",
        Metadata={STATUS_META: DELETED},
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=settings().require("data_key_arn"),
    )
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": job.incoming}, {"Key": job.claim}], "Quiet": True})


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
