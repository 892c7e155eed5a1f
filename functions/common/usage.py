"""Usage records: what product analytics needs of a finished job, and nothing of its content.

The process function writes one item per finished job (one PutItem), and the table's
stream turns it into the audit events `document_processed` and, for doctor reports,
`premium_feature_used` (analytics/events.py): one path into the lake for account changes
and product usage. A record carries the job's kind, outcome and error code, the model
id, the model's latency and token counts, when it finished, and of a lab report the kind
of file (pdf or image), its page count and how many values were recognised (0: the job
completed with nothing recognised), and when its input arrived (`uploaded_at`, the
file's S3 time: end-to-end time is `finished_at - uploaded_at`): never a value, a name, a
file or a question. The upload function writes a smaller item when it issues an upload
ticket (`ticket`: the kind of file and when, `upload_ticket_issued`), so the upload
funnel starts at the ticket. Each expires by the table's TTL once the stream has had it.

The process and upload roles may write only these attributes of items under `USAGE#`
(components/iam.py).
Standard library only at import: the Pulumi program reads the constants.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

KEY_PREFIX = "USAGE#"
JOB_PREFIX, TICKET_PREFIX = "JOB#", "TICKET#"  # sort keys: a finished job, an issued upload ticket
# The job kinds of job ids, as analysts name them.
KINDS = {"result": "lab_report", "chat": "chat", "report": "doctor_report"}
PREMIUM_KINDS = frozenset({"doctor_report"})
ATTRIBUTES = (
    "PK",
    "SK",
    "job_kind",
    "outcome",
    "error_code",
    "model_id",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "input_type",
    "page_count",
    "observation_count",
    "uploaded_at",
    "finished_at",
    "issued_at",
    "ttl",
    "analytics_id",
)
TTL_ATTRIBUTE = "ttl"  # the table's TTL attribute (components/storage.py)
# Long enough for the stream's retries (records live 24 h in the stream, the mapping gives
# up after an hour) and a look when something went wrong; short enough to keep nothing.
TTL_SECONDS = 2 * 86_400


@dataclass
class ModelUse:
    """What one job cost: filled in while the job runs (zero when no model was called)."""

    model_id: str | None = None
    latency_ms: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class Document:
    """What a lab-report job read: `input_type` pdf, photo or screenshot (by the type the
    upload declared; once the file opened, a PNG with camera EXIF is a photo), `page_count`
    once the file opened (an image is one page), and
    `observation_count` when it completed. None when unknown, and for chats and reports."""

    input_type: str | None = None
    page_count: int | None = None
    observation_count: int | None = None


def input_type(content_type: str) -> str | None:
    """pdf, photo (JPEG: what phone cameras write) or screenshot (PNG: what phones save
    screenshots as) for the content types an upload ticket allows; None for any other.
    Events before this distinction say `image`."""
    kind = (content_type or "").split(";")[0].strip().lower()
    return {"application/pdf": "pdf", "image/jpeg": "photo", "image/png": "screenshot"}.get(kind)


def key(user_id: str, job_id: str, prefix: str = JOB_PREFIX) -> dict[str, str]:
    return {"PK": f"{KEY_PREFIX}{user_id}", "SK": f"{prefix}{job_id}"}


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ticket(user_id: str, job_id: str, content_type: str, now: float | None = None, analytics_id: str = "") -> dict:
    """The item of an issued upload ticket: the kind of file it allows and when."""
    now = time.time() if now is None else now
    item: dict = {**key(user_id, job_id, TICKET_PREFIX), "job_kind": KINDS["result"], "issued_at": _iso(now)}
    item[TTL_ATTRIBUTE] = int(now) + TTL_SECONDS
    if input_type(content_type):
        item["input_type"] = input_type(content_type)
    if analytics_id:  # the lake's id of the person (analytics/events.py); never the user id
        item["analytics_id"] = analytics_id
    return item


def record(
    user_id: str,
    job_id: str,
    job_kind: str,
    outcome: dict,
    use: ModelUse,
    document: Document | None = None,
    now: float | None = None,
    uploaded_at: float | None = None,
    analytics_id: str = "",
) -> dict:
    """The item of a finished job (`outcome` as written to outgoing/: its status and error
    code only; `document`: counts, never content; `uploaded_at`: when its input arrived)."""
    now = time.time() if now is None else now
    item = {
        **key(user_id, job_id),
        "job_kind": KINDS[job_kind],
        "outcome": outcome["status"],
        "latency_ms": int(use.latency_ms),
        "input_tokens": int(use.input_tokens),
        "output_tokens": int(use.output_tokens),
        "finished_at": _iso(now),
        TTL_ATTRIBUTE: int(now) + TTL_SECONDS,
    }
    if uploaded_at is not None:
        item["uploaded_at"] = _iso(uploaded_at)
    if analytics_id:  # the lake's id of the person (analytics/events.py); never the user id
        item["analytics_id"] = analytics_id
    if use.model_id:
        item["model_id"] = use.model_id
    for name, value in vars(document or Document()).items():
        if value is not None:
            item[name] = value
    if outcome["status"] == "failed":
        item["error_code"] = outcome["error"]["code"]
    return item


def write(item: dict) -> None:
    """One PutItem: the stream sees an INSERT (a retried job or ticket overwrites its own
    record, a MODIFY the stream ignores)."""
    from functions.common import aws
    from functions.common.settings import settings

    aws.table(settings().require("table_name")).put_item(Item=item)
