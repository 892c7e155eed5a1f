"""Request rules AWS services enforce and moto does not, checked on the SDK's side
(botocore `before-parameter-build`, with the call's own parameters) so that the local
stack and the function tests refuse what AWS refuses, with the error AWS answers.

- Enumerations: a string the service model declares as an enum only takes one of its
  values (botocore validates types, required members and minimum lengths, not enums);
  the services answer 400, e.g. KMS Sign with MessageType "raw": "1 validation error
  detected: Value 'raw' at 'messageType' failed to satisfy constraint: Member must satisfy
  enum value set: [DIGEST, EXTERNAL_MU, RAW]" (ValidationException; S3 answers InvalidArgument).
  https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html#API_Sign_RequestSyntax
  https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html (ValidationException)
- S3: a KMS key id (x-amz-server-side-encryption-aws-kms-key-id) is only accepted together
  with x-amz-server-side-encryption: aws:kms (or aws:kms:dsse); alone, S3 answers 400
  InvalidArgument "Server Side Encryption with AWS KMS managed key requires HTTP header
  x-amz-server-side-encryption : aws:kms" (moto stores the object).
  https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html (SSEKMSKeyId: "If you
  specify x-amz-server-side-encryption with aws:kms or aws:kms:dsse, this header specifies
  the ID ... of the KMS key"); the error as S3 returns it: https://github.com/aws/aws-cli/issues/1431
- DynamoDB: a write and its condition are one atomic step, and so is a transaction ("the
  condition expression must evaluate to true in order for the operation to succeed";
  TransactWriteItems is "an all-or-nothing operation"); moto's backend evaluates the
  condition and then writes, unlocked, so under threads two conditional increments can
  both pass (eight concurrent quota counts against a limit of five all succeeded). Its
  write operations are serialised, which is what DynamoDB guarantees per item.
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html
  https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html
- DynamoDB: TransactWriteItems is idempotent for its ClientRequestToken (10 minutes):
  a retry of a call that succeeded writes nothing again (idempotent_transactions).
- DynamoDB Streams: a cancelled transaction writes nothing, so it adds no stream record
  and leaves the stream as it was. moto rolls a cancelled transaction back by putting a
  deep copy of the table in its place, stream shard included: every shard iterator open
  before (the audit processor's poller) then reads a shard nothing writes to any more,
  and the stream goes quiet for good. The live shard is put back, without the records of
  the transaction's writes. "Stream records ... appear in the same sequence as the actual
  modifications", and only modifications that happened:
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Iterator

from botocore.exceptions import ClientError

KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
# The S3 operations that take SSEKMSKeyId with ServerSideEncryption.
_S3_WRITES = ("PutObject", "CopyObject", "CreateMultipartUpload")
MISSING_SSE_KMS = (
    "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms"
)


def _bad_enums(shape, value, path: str) -> Iterator[tuple[str, str, list[str]]]:
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                yield from _bad_enums(member, value[name], f"{path}.{name}" if path else name)
    elif kind == "list" and isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _bad_enums(shape.member, item, f"{path}.{i + 1}")
    elif kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            yield from _bad_enums(shape.key, key, path)
            yield from _bad_enums(shape.value, item, f"{path}.{key}")
    elif kind == "string" and shape.enum and isinstance(value, str) and value not in shape.enum:
        yield path, value, list(shape.enum)


def violation(service: str, operation, params: dict) -> str | None:
    """The message of the 400 the service would answer `params` with, or None."""
    if operation.input_shape is not None:
        for path, value, allowed in _bad_enums(operation.input_shape, params, ""):
            field = path[:1].lower() + path[1:]
            return (
                f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(sorted(allowed))}]"
            )
    if (
        service == "s3"
        and operation.name in _S3_WRITES
        and params.get("SSEKMSKeyId")
        and params.get("ServerSideEncryption") not in KMS_ALGORITHMS
    ):
        return MISSING_SSE_KMS
    return None


def _check(params, model, **_):
    service = model.service_model.service_name
    message = violation(service, model, params)
    if message is not None:
        code = "InvalidArgument" if service == "s3" else "ValidationException"
        raise ClientError(
            {
                "Error": {"Code": code, "Message": message},
                "ResponseMetadata": {
                    "HTTPStatusCode": 400,
                    "HTTPHeaders": {},
                    "RequestId": "local-aws-rules",
                    "RetryAttempts": 0,
                },
            },
            model.name,
        )


_DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_dynamodb_lock = threading.RLock()


def serialise_dynamodb_writes() -> None:
    """Makes moto's DynamoDB writes atomic, as DynamoDB's are (once per process)."""
    from moto.dynamodb.models import DynamoDBBackend

    for name in _DYNAMODB_WRITES:
        method = getattr(DynamoDBBackend, name)
        if getattr(method, "_serialised", False):
            continue

        @functools.wraps(method)
        def serialised(self, *args, _method=method, **kwargs):
            with _dynamodb_lock:
                if _method.__name__ != "transact_write_items":
                    return _method(self, *args, **kwargs)
                shards = {
                    name: (t.stream_shard, len(t.stream_shard.items))
                    for name, t in self.tables.items()
                    if t.stream_shard is not None
                }
                try:
                    return _method(self, *args, **kwargs)
                except Exception:
                    _keep_stream_shards(self.tables, shards)
                    raise

        serialised._serialised = True  # type: ignore[attr-defined]  # a marker on the function, read above
        setattr(DynamoDBBackend, name, serialised)


# TransactWriteItems' ClientRequestToken: (account, region, token) -> (the request's
# items, when it succeeded, the answer), kept IDEMPOTENCY_SECONDS.
IDEMPOTENCY_SECONDS = 600
_tokens: dict[tuple[str, str, str], tuple[str, float, object]] = {}


def idempotent_transactions() -> None:
    """TransactWriteItems with a ClientRequestToken it has already succeeded with (within
    10 minutes) answers as the first call did and writes nothing again; the same token with
    other items is IdempotentParameterMismatchException. botocore fills the token in and a
    retry resends it, so a call whose answer came too late (the functions' read timeout is
    5 s) is not applied twice: moto applied it again, and a quota counter went up by two
    for one request under load. https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html#DDB-TransactWriteItems-request-ClientRequestToken
    """
    from moto.dynamodb.exceptions import DynamodbException
    from moto.dynamodb.responses import DynamoHandler

    method = DynamoHandler.transact_write_items
    if getattr(method, "_idempotent", False):
        return

    @functools.wraps(method)
    def idempotent(self, _method=method):
        token = self.body.get("ClientRequestToken")
        if not token:
            return _method(self)
        key, items = (
            (self.current_account, self.region, token),
            json.dumps(self.body["TransactItems"], sort_keys=True, default=repr),
        )
        with _dynamodb_lock:
            now = time.monotonic()
            for stale in [k for k, (_, at, _) in _tokens.items() if now - at > IDEMPOTENCY_SECONDS]:
                del _tokens[stale]
            seen = _tokens.get(key)
            if seen is not None:
                if seen[0] != items:
                    raise DynamodbException(
                        "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
                        "The request uses the same client token as a previous, but non-identical request.",
                    )
                return seen[2]
            answer = _method(self)
            _tokens[key] = (items, now, answer)
            return answer

    idempotent._idempotent = True  # type: ignore[attr-defined]  # a marker on the function, read above
    DynamoHandler.transact_write_items = idempotent  # type: ignore[method-assign]


def _keep_stream_shards(tables: dict, shards: dict) -> None:
    """After moto's rollback, each table's stream is the one it had before, with the
    records it had before."""
    for name, (shard, length) in shards.items():
        table = tables.get(name)
        if table is not None and table.stream_shard is not shard:
            del shard.items[length:]
            shard.table, table.stream_shard = table, shard


def attach(events) -> None:
    """Applies the rules to every call made through `events` (a session's or a client's)."""
    serialise_dynamodb_writes()
    idempotent_transactions()
    events.register_first("before-parameter-build", _check)


def detach(events) -> None:
    events.unregister("before-parameter-build", _check)
