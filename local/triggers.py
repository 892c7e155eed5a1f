"""The local stand-ins for Lambda's event sources, wired from the catalog's triggers.

- `S3Dispatcher`: new objects under a trigger's prefix of the temp bucket become
  ObjectCreated events, delivered once per object version, retried as many times as the
  program's FunctionEventInvokeConfig says (maximum_retry_attempts), then sent to the
  function's dead-letter queue as Lambda sends it: the event unchanged as the message
  body, the failure in the RequestID, ErrorCode and ErrorMessage message attributes
  (`dead_letter_message`).
  https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html
  https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html#invocation-dlq
- `StreamPoller`: the table's DynamoDB stream read shard by shard and delivered in
  batches, with the program's EventSourceMapping settings (`StreamMapping`): batch size,
  BisectBatchOnFunctionError, ReportBatchItemFailures, MaximumRetryAttempts and the
  on-failure destination, which gets the invocation record of the documented example
  (`stream_failure_record`: the batch's shard and sequence numbers, not its records).
  https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html
  https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html
  Its filter criteria are enforced as Lambda enforces them (`passes`): a record that
  matches none of the filters is dropped before batching and invokes nothing.
  https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html

Record and event ages (MaximumRecordAgeInSeconds, MaximumEventAgeInSeconds) are not
emulated: they depend on the wall clock, and nothing local waits that long.

Both expose `poll_once()` (what the tests call) and run it on a background thread.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from local.runtime import LocalLambda, acting_as

# Lambda's asynchronous invocation without a FunctionEventInvokeConfig: the first try and two retries.
DEFAULT_ASYNC_RETRIES = 2
# The account's canonical principal in S3's events (the value AWS puts there is opaque).
LOCAL_PRINCIPAL = "A1LOCALSTACKEXAMPLE"

# What a failure sender is given: the message body and its SQS message attributes.
SendFailure = Callable[[dict, Mapping[str, dict]], None]

# "ErrorMessage | String | Error message (truncated to 1 KB)"
# https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html#invocation-dlq
DLQ_ERROR_MESSAGE_BYTES = 1024


def dead_letter_message(event: dict, request_id: str, error: BaseException) -> tuple[dict, dict]:
    """What an asynchronous invocation's dead-letter queue receives: "the original event
    payload with no modifications to the message body", and the RequestID (String),
    ErrorCode (Number, "3-digit HTTP error code") and ErrorMessage (String) attributes.
    A function error is an invocation that answered 200 with an error payload, hence 200.
    https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html#invocation-dlq"""
    message = str(error) or type(error).__name__
    message = message.encode()[:DLQ_ERROR_MESSAGE_BYTES].decode(errors="ignore")
    return event, {
        "RequestID": {"DataType": "String", "StringValue": request_id},
        "ErrorCode": {"DataType": "Number", "StringValue": "200"},
        "ErrorMessage": {"DataType": "String", "StringValue": message},
    }


def stream_failure_record(
    *,
    request_id: str,
    function_arn: str,
    invocations: int,
    function_error: bool,
    stream_arn: str,
    shard_id: str,
    records: list[dict],
    at: datetime,
) -> dict:
    """The invocation record a stream event source mapping sends to its on-failure
    destination, field for field as the example of "Retain discarded records for a
    DynamoDB event source in Lambda":
    https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html"""
    arrivals = [r["dynamodb"].get("ApproximateCreationDateTime") for r in (records[0], records[-1])]
    response = {"statusCode": 200, "executedVersion": "$LATEST"}
    if function_error:
        response["functionError"] = "Unhandled"
    return {
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": invocations,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": _iso_seconds(arrivals[0]),
            "approximateArrivalOfLastRecord": _iso_seconds(arrivals[1]),
            "batchSize": len(records),
            "streamArn": stream_arn,
        },
    }


def _iso_seconds(epoch: Any) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class StreamMapping:
    """The settings of a stream EventSourceMapping the local poller honours."""

    batch_size: int = 100
    maximum_retry_attempts: int = 3
    bisect_batch_on_function_error: bool = False
    report_batch_item_failures: bool = False
    filters: tuple[dict, ...] = ()  # FilterCriteria patterns; none: every record is delivered

    @classmethod
    def from_inputs(cls, inputs: Mapping[str, Any]) -> StreamMapping:
        """From the inputs the program gave aws.lambda_.EventSourceMapping (camelCase)."""
        retries = int(inputs.get("maximumRetryAttempts", -1))
        if retries < 0:
            raise ValueError("infinite stream retries (-1) are not emulated: a poison record would stop the poller")
        return cls(
            batch_size=int(inputs.get("batchSize", 100)),
            maximum_retry_attempts=retries,
            bisect_batch_on_function_error=bool(inputs.get("bisectBatchOnFunctionError", False)),
            report_batch_item_failures="ReportBatchItemFailures" in (inputs.get("functionResponseTypes") or []),
            filters=tuple(json.loads(f["pattern"]) for f in (inputs.get("filterCriteria") or {}).get("filters") or []),
        )


_MISSING = object()


def passes(filters: tuple[dict, ...], record: Mapping[str, Any]) -> bool:
    """Whether Lambda delivers `record` under these filter patterns (any one matching; no
    filters: all). The operators this program uses and their neighbours are understood;
    any other is refused, as AWS refuses a pattern it cannot parse."""
    return not filters or any(_matches(pattern, record) for pattern in filters)


def _matches(pattern: Mapping[str, Any], value: Any) -> bool:
    for key, expected in pattern.items():
        field = value.get(key, _MISSING) if isinstance(value, Mapping) else _MISSING
        if isinstance(expected, Mapping):
            if not _matches(expected, field if isinstance(field, Mapping) else {}):
                return False
        elif isinstance(expected, list):
            if not any(_rule(rule, field) for rule in expected):
                return False
        else:
            raise ValueError(f"filter pattern: {key} must be an object or a list of rules")
    return True


def _rule(rule: Any, field: Any) -> bool:
    values = field if isinstance(field, list) else [field]
    if not isinstance(rule, Mapping):  # an exact value
        return field is not _MISSING and rule in values
    ((operator, operand),) = rule.items()
    if operator == "exists":
        return (field is not _MISSING) is operand
    if field is _MISSING:
        return False
    if operator == "anything-but":
        excluded = operand if isinstance(operand, list) else [operand]
        return all(v not in excluded for v in values)
    if operator == "prefix":
        return any(isinstance(v, str) and v.startswith(operand) for v in values)
    raise ValueError(f"filter pattern: the operator {operator!r} is not emulated")


class _Poller:
    interval_s = 0.2

    def __init__(self):
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []  # what failed for good, for /local/health and tests
        self._cycles = 0  # background polls completed
        self._cycled = threading.Condition()

    def poll_once(self) -> int:
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll_once()
            except Exception as e:  # keep polling; the failure is recorded, not swallowed
                self.errors.append(f"{type(self).__name__}: {type(e).__name__}: {e}")
            with self._cycled:
                self._cycles += 1
                self._cycled.notify_all()

    def wait_polled(self, cycles: int = 2, timeout: float = 30.0) -> bool:
        """Waits until the background thread has completed `cycles` more polls, so that
        everything written before the call has been delivered (a full poll started after
        it). Event-driven, for tests; `timeout` only bounds a stopped poller."""
        with self._cycled:
            target = self._cycles + cycles
            return self._cycled.wait_for(lambda: self._cycles >= target, timeout=timeout)


def rate_seconds(expression: str) -> float | None:
    """The period of an EventBridge `rate(<n> <unit>)` in seconds; None for a cron(...)."""
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not match:
        return None
    return int(match[1]) * {"minute": 60, "hour": 3600, "day": 86_400}[match[2].rstrip("s")]


class Schedule(_Poller):
    """An EventBridge schedule of rate(...): each poll invokes the function once with the
    target's constant input, as EventBridge does, and keeps what it answered (`answers`)
    or why it failed (`errors`). In the background it runs every `interval_s` (the rate,
    scaled like CloudWatch's periods locally)."""

    def __init__(self, function: str, functions: LocalLambda, event: dict, interval_s: float):
        super().__init__()
        self._function, self._functions, self._event = function, functions, event
        self.interval_s = interval_s
        self.answers: list[Any] = []

    def poll_once(self) -> int:
        try:
            self.answers.append(self._functions.invoke(self._function, dict(self._event)))
        except Exception as e:  # an invocation error: Lambda's retries and DLQ are the program's
            self.errors.append(f"{self._function}: {type(e).__name__}: {e}")
        return 1


class S3Dispatcher(_Poller):
    def __init__(
        self,
        s3,
        bucket: str,
        prefix: str,
        function: str,
        functions: LocalLambda,
        region: str,
        send_failure: SendFailure,
        retries: int = DEFAULT_ASYNC_RETRIES,
    ):
        super().__init__()
        self._s3, self._bucket, self._prefix = s3, bucket, prefix
        self._function, self._functions = function, functions
        self._region, self._send_failure = region, send_failure
        self.attempts = 1 + retries
        self._seen: set[tuple[str, str]] = set()
        # The program names no notification configuration: AWS's provider generates one.
        self.configuration_id = f"tf-s3-lambda-{function}"

    def poll_once(self) -> int:
        """Delivers every object not delivered before; returns how many were delivered."""
        listed: set[tuple[str, str]] = set()
        objects = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=self._prefix):
            for obj in page.get("Contents", []):
                key = (obj["Key"], obj["ETag"])
                listed.add(key)
                if key not in self._seen:
                    objects.append(obj)
        for obj in objects:
            self._seen.add((obj["Key"], obj["ETag"]))
            self._deliver(self._event(obj))
        self._seen &= listed  # forget deleted objects; a re-upload is a new event
        return len(objects)

    def _event(self, obj: dict) -> dict:
        """The notification S3 sends for a POST upload, with every key of AWS's event
        structure (no versionId: the bucket is not versioned). The sequencer is hex, one
        length for every event, so comparing two as strings orders them as S3's do.
        https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html"""
        modified = obj["LastModified"].astimezone(UTC)
        return {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": self._region,
                    "eventTime": modified.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    "eventName": "ObjectCreated:Post",
                    "userIdentity": {"principalId": LOCAL_PRINCIPAL},
                    "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                    "responseElements": {
                        "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
                        "x-amz-id-2": base64.b64encode(os.urandom(48)).decode(),
                    },
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "configurationId": self.configuration_id,
                        "bucket": {
                            "name": self._bucket,
                            "ownerIdentity": {"principalId": LOCAL_PRINCIPAL},
                            "arn": f"arn:aws:s3:::{self._bucket}",
                        },
                        "object": {
                            "key": urllib.parse.quote_plus(obj["Key"], safe="/"),
                            "size": obj["Size"],
                            "eTag": obj["ETag"].strip('"'),
                            "sequencer": f"{int(modified.timestamp() * 1_000_000):016X}",
                        },
                    },
                }
            ]
        }

    def _deliver(self, event: dict) -> None:
        error, request_id = None, str(uuid.uuid4())  # one event, one request id across its retries
        for _ in range(self.attempts):
            try:
                self._functions.invoke(self._function, event, request_id=request_id)
                return
            except Exception as e:
                error = e
        self.errors.append(f"{self._function}: {type(error).__name__}: {error}")
        # attempts >= 1: the loop ran, and every attempt failed.
        self._send_failure(*dead_letter_message(event, request_id, cast(Exception, error)))


class StreamPoller(_Poller):
    def __init__(
        self,
        streams,
        stream_arn: str,
        function: str,
        mapping: StreamMapping,
        functions: LocalLambda,
        send_failure: SendFailure,
        function_arn: str = "",
    ):
        super().__init__()
        self._streams, self._arn = streams, stream_arn
        self._function_arn = function_arn or function
        self._function, self.mapping, self._functions = function, mapping, functions
        self._send_failure = send_failure
        self._iterators: dict[str, str | None] = {}
        self._pending: dict[str, list[dict]] = {}  # records read but not yet delivered, per shard

    def poll_once(self) -> int:
        """Reads every shard once and delivers what it read; returns records delivered."""
        delivered = 0
        # Lambda reads the stream with the function's execution role.
        with acting_as(self._function):
            shards = self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            with acting_as(self._function):
                if shard_id not in self._iterators:
                    self._iterators[shard_id] = self._streams.get_shard_iterator(
                        StreamArn=self._arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                    )["ShardIterator"]
                iterator = self._iterators[shard_id]
                if iterator:
                    reply = self._streams.get_records(ShardIterator=iterator)
                    self._iterators[shard_id] = reply.get("NextShardIterator")
                    records = (_lambda_record(r, self._arn) for r in reply["Records"])
                    self._pending.setdefault(shard_id, []).extend(r for r in records if passes(self.mapping.filters, r))
            pending = self._pending.get(shard_id, [])
            while pending:
                batch, pending = pending[: self.mapping.batch_size], pending[self.mapping.batch_size :]
                self._deliver(batch, shard_id)
                delivered += len(batch)
            self._pending[shard_id] = []
        return delivered

    def _deliver(self, records: list[dict], shard_id: str) -> None:
        """One batch as the event source mapping handles it, until it succeeds or its
        records go to the on-failure destination:
        - a function error with BisectBatchOnFunctionError splits the batch in two and
          each half is delivered on its own (a split does not use up a retry); a single
          record, or without bisection the batch, is retried `maximum_retry_attempts` times;
        - with ReportBatchItemFailures, the records from the lowest reported sequence number
          on are retried (bisected there), those before it are done; an identifier that is
          empty or not in the batch makes the whole batch a failure.
        """
        retries_left, error, invocations = self.mapping.maximum_retry_attempts, None, 0
        while True:
            invocations += 1
            try:
                reply = self._functions.invoke(self._function, {"Records": records})
            except Exception as e:
                error, function_error = f"{type(e).__name__}: {e}", True
                if self.mapping.bisect_batch_on_function_error and len(records) > 1:
                    half = len(records) // 2
                    self._deliver(records[:half], shard_id)
                    self._deliver(records[half:], shard_id)
                    return
            else:
                first = self._first_failure(records, reply)
                if first is None:
                    return
                records, function_error = records[first:], False
                error = "batch item failure reported" if first >= 0 else "invalid batchItemFailures"
            if retries_left == 0:
                self.errors.append(f"{self._function}: {error}")
                self._send_failure(
                    stream_failure_record(
                        request_id=str(uuid.uuid4()),
                        function_arn=self._function_arn,
                        invocations=invocations,
                        function_error=function_error,
                        stream_arn=self._arn,
                        shard_id=shard_id,
                        records=records,
                        at=datetime.now(UTC),
                    ),
                    {},
                )
                return
            retries_left -= 1

    def _first_failure(self, records: list[dict], reply: Any) -> int | None:
        """None when the batch succeeded; else the index to retry from (0: all of it)."""
        if not self.mapping.report_batch_item_failures or not isinstance(reply, dict):
            return None
        failures = reply.get("batchItemFailures")
        if not failures:
            return None
        sequence = [r["dynamodb"]["SequenceNumber"] for r in records]
        identifiers = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures]
        if any(not i or i not in sequence for i in identifiers):
            return 0
        return min(sequence.index(i) for i in identifiers)


def _lambda_record(record: dict, stream_arn: str) -> dict:
    """A boto3 stream record as Lambda delivers it: plain JSON, with the source ARN."""
    return {**json.loads(json.dumps(record, default=_as_lambda_json)), "eventSourceARN": stream_arn}


def _as_lambda_json(value: Any) -> Any:
    """Times as epoch seconds and binary attributes as base64, as Lambda delivers them."""
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot serialise {type(value).__name__}")
