"""The audit-event schema: one pyarrow schema for the writer (the stream processor) and
the reader (the Glue table is generated from it, so they cannot drift).

Flat, analyst-friendly, with OCSF-aligned names. Never email, names or any health data:
ids, providers, plans, consent versions, the names of changed fields, and of product
usage only the kind, outcome, model and cost of a job.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 4  # 2: product usage, subscription prices; 3: input_type, page_count, observation_count;
# 4: uploaded_at, upload_ticket_issued, consent_answer, analytics_id instead of user_id
PARTITION = "event_date"  # yyyy-MM-dd, a Hive partition: audit/event_date=2026-11-27/
TIMESTAMP = pa.timestamp("ms", tz="UTC")

# event_type -> (OCSF class_uid, activity_id, what it means)
EVENT_TYPES: dict[str, tuple[int, int, str]] = {
    "user_registered": (3001, 1, "An account was created (Account Change: Create)."),
    "signed_in": (3002, 1, "A user signed in and got a new session (Authentication: Logon)."),
    "subscription_changed": (3001, 99, "The plan or its status changed (old_plan -> new_plan)."),
    "device_changed": (3001, 99, "The user's device or platform changed."),
    "consent_updated": (
        3001,
        99,
        "A consent was answered: consent_type, consent_version and consent_answer (given, refused or withdrawn).",
    ),
    "profile_updated": (3001, 99, "Profile fields changed; changed_fields names them, never their values."),
    "user_deleted": (3001, 6, "The account was deleted (Account Change: Delete)."),
    "subscription_charged": (
        3001,
        99,
        "A store billed a subscription period (a purchase or a renewal): store, "
        "product_id, and price_milli/currency when the store sent them.",
    ),
    "subscription_refunded": (
        3001,
        99,
        "A store refunded or revoked a subscription: store, product_id, price_milli/currency when the store sent them.",
    ),
    "document_processed": (
        6003,
        99,
        "A job finished (API Activity): job_kind lab_report, chat or doctor_report, "
        "outcome completed or failed, error_code, model_id, latency and tokens; for a lab report "
        "input_type (pdf; photo: a JPEG, or an image whose EXIF names a camera; screenshot: a PNG without; "
        "image in older events), page_count and observation_count (0: completed with nothing recognised).",
    ),
    "upload_ticket_issued": (
        6003,
        99,
        "An upload ticket was issued for a lab report (API Activity): job_kind lab_report and input_type "
        "(by the declared type: pdf, photo for JPEG, screenshot for PNG); "
        "the upload funnel's first step. Since schema 4.",
    ),
    "premium_feature_used": (6003, 99, "A premium feature was used (job_kind doctor_report), whatever its outcome."),
}

COLUMNS: list[tuple[pa.Field, str]] = [
    (
        pa.field("event_id", pa.string(), nullable=False),
        "Deterministic id from the stream record: duplicates share it.",
    ),
    (
        pa.field("event_time", TIMESTAMP, nullable=False),
        "When the change happened (UTC, milliseconds: the item's own time within the stream record's second).",
    ),
    (pa.field("event_type", pa.string(), nullable=False), "One of the event types below."),
    (
        pa.field("class_uid", pa.int32(), nullable=False),
        "OCSF class: 3001 Account Change, 3002 Authentication, 6003 API Activity.",
    ),
    (pa.field("activity_id", pa.int32(), nullable=False), "OCSF activity within the class."),
    (
        pa.field("analytics_id", pa.string(), nullable=False),
        "The person's analytics id: a random uuid kept on the account, never the app's user id; once the "
        "account is deleted nothing links it to anyone. Since schema 4 (before: user_id).",
    ),
    (pa.field("auth_provider", pa.string()), "google or apple."),
    (pa.field("device_platform", pa.string()), "ios or android, when known."),
    (pa.field("old_plan", pa.string()), "Plan before a subscription change: free or premium."),
    (pa.field("new_plan", pa.string()), "Plan after a subscription change (and free at registration)."),
    (pa.field("subscription_status", pa.string()), "active, grace_period, expired or revoked after the change."),
    (pa.field("consent_type", pa.string()), "privacy_policy, terms_of_service, ... for consent events."),
    (pa.field("consent_version", pa.string()), "The consent's version, e.g. 2025-01."),
    (
        pa.field("consent_answer", pa.string()),
        "given, refused or withdrawn (a consent given before and no longer), for consent_updated; "
        "null in files before schema 4.",
    ),
    (pa.field("changed_fields", pa.list_(pa.string())), "For profile_updated: the names of the changed fields."),
    (pa.field("store", pa.string()), "apple or google, for subscription_charged and subscription_refunded."),
    (pa.field("product_id", pa.string()), "The store product of a subscription event."),
    (
        pa.field("price_milli", pa.int64()),
        "The price the store sent, in thousandths of the currency unit "
        "(Apple's transaction price); null when it sent none.",
    ),
    (pa.field("currency", pa.string()), "ISO 4217 code of price_milli."),
    (
        pa.field("job_kind", pa.string()),
        "lab_report, chat or doctor_report, for document_processed and premium_feature_used.",
    ),
    (pa.field("outcome", pa.string()), "completed or failed."),
    (pa.field("error_code", pa.string()), "Why a job failed (the API's error code), when it did."),
    (pa.field("model_id", pa.string()), "The model or provider that answered; null when none was called."),
    (pa.field("latency_ms", pa.int64()), "Time spent in model calls, milliseconds."),
    (pa.field("input_tokens", pa.int64()), "Model input tokens of the job."),
    (pa.field("output_tokens", pa.int64()), "Model output tokens of the job."),
    (
        pa.field("input_type", pa.string()),
        "pdf or image: the file of a lab_report job (null for chat and doctor_report). Since schema 3.",
    ),
    (
        pa.field("page_count", pa.int32()),
        "Pages of a lab report's file once it opened (an image is 1); null when it was refused unopened. "
        "Since schema 3.",
    ),
    (
        pa.field("observation_count", pa.int32()),
        "Lab values recognised in a completed lab report: 0 means it completed with nothing recognised; "
        "null when the job failed or is not a lab report. Since schema 3.",
    ),
    (
        pa.field("uploaded_at", TIMESTAMP),
        "For document_processed: when the job's input arrived (its upload, or the request of a chat or "
        "doctor report); event_time - uploaded_at is the end-to-end time. Since schema 4.",
    ),
    (pa.field("source", pa.string(), nullable=False), "Where the event was derived from: dynamodb_stream."),
    (pa.field("stream_sequence", pa.string(), nullable=False), "Sequence number of the stream record."),
    (pa.field("schema_version", pa.int32(), nullable=False), "Version of this schema."),
    (pa.field("ingested_at", TIMESTAMP, nullable=False), "When the stream processor wrote the event."),
]

SCHEMA = pa.schema([field for field, _ in COLUMNS])
DESCRIPTIONS = {field.name: text for field, text in COLUMNS}
PARTITION_DESCRIPTION = "Partition: the UTC day of event_time, yyyy-MM-dd. Filter on it in every query."


def glue_type(data_type: pa.DataType) -> str:
    """The Glue/Hive type of a column."""
    if pa.types.is_string(data_type):
        return "string"
    if pa.types.is_int32(data_type):
        return "int"
    if pa.types.is_int64(data_type):
        return "bigint"
    if pa.types.is_timestamp(data_type):
        return "timestamp"
    if pa.types.is_list(data_type):
        return f"array<{glue_type(data_type.value_type)}>"
    raise TypeError(f"no Glue type for {data_type}")


def glue_columns() -> list[dict]:
    return [{"name": f.name, "type": glue_type(f.type), "comment": DESCRIPTIONS[f.name][:255]} for f in SCHEMA]
