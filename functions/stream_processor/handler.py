"""stream_processor: the table's stream into audit events, as partitioned Parquet.

Records are handled in order (Powertools batch processing); events of the records
before the first failure are written, one ZSTD Parquet object per partition, named
from the stream and the first and last sequence numbers it holds, so a retried batch
overwrites its own files instead of duplicating them. Failed records are reported
(ReportBatchItemFailures) and Lambda retries from the first; after the retries the
batch goes to the on-failure queue, which alarms.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from analytics import events as audit
from analytics import writer
from functions.common import aws
from functions.common.canary import owns_record
from functions.common.observability import count, instrumented, logger
from functions.common.settings import settings

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def write(derived: list[tuple[dict, list[dict]]]) -> int:
    """Writes the events of the given (record, events) pairs; returns events written."""
    bucket, s3 = settings().require("events_bucket"), aws.client("s3")
    pairs = [(r, e) for r, e in derived if e]
    if not pairs:
        return 0
    stream = hashlib.sha256(pairs[0][0].get("eventSourceARN", "").encode()).hexdigest()[:12]
    first, last = pairs[0][0]["dynamodb"]["SequenceNumber"], pairs[-1][0]["dynamodb"]["SequenceNumber"]
    events = [e for _, batch in pairs for e in batch]
    for day, partition in writer.by_partition(events).items():
        s3.put_object(
            Bucket=bucket,
            Key=f"{writer.partition_prefix(day)}{stream}-{first}-{last}.parquet",
            Body=writer.parquet_bytes(writer.table(partition)),
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=settings().require("data_key_arn"),
        )
    for event in events:
        count("AuditEvents", event_type=event["event_type"])
        if event["event_type"] == "document_processed":
            # documents_processed_daily's number, from the same event (a redelivered
            # batch counts again here, where the queries drop the copy by event_id).
            count("DocumentsProcessed", job_kind=event["job_kind"] or "unknown", outcome=event["outcome"] or "unknown")
    return len(events)


@instrumented()
def handler(event, context):
    started = time.monotonic()
    ingested_at = datetime.now(UTC)
    derived: list[tuple[dict, list[dict]]] = []

    def unattributed(event_type: str) -> None:
        # Dropped, not silent: an account with no analytics id yet loses this event.
        count("EventsWithoutAnalyticsId", event_type=event_type)

    def record_handler(record):
        # The canary's items (its profile, its jobs' usage records) are no one's use of the app.
        events = [] if owns_record(record.raw_event) else audit.derive(record.raw_event, ingested_at, unattributed)
        derived.append((record.raw_event, events))

    records = event.get("Records", [])
    with processor(records=records, handler=record_handler):
        processor.process()
    response = processor.response()
    failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
    if failed:
        logger.warning("records failed", extra={"failed": len(failed)})
    # Only what precedes the first failure: Lambda redelivers everything from there.
    position = {r["dynamodb"]["SequenceNumber"]: i for i, r in enumerate(records)}
    first_failed = min((position[s] for s in failed), default=len(records))
    written = write([(r, e) for r, e in derived if position[r["dynamodb"]["SequenceNumber"]] < first_failed])
    count("BatchLatency", (time.monotonic() - started) * 1000, MetricUnit.Milliseconds)
    logger.info("batch written", extra={"records": len(records), "events": written})
    return response
