"""Records the AWS calls the catalog's functions make in the local stack, and what IAM
permissions each call needs, so tests can evaluate them against the roles the program
generates (local/iam_eval.py).

The recorder hooks botocore's events (`provide-client-params` keeps the call's
parameters, `after-call` records it with its status and reply, `before-sign` sees
presigned POSTs, which make no call): on the default session, which the functions' SDK
uses, and on the clients the trigger stand-ins use with a function's role. Each call is
attributed to `local.runtime.current_function()`; calls made outside a function are not
recorded.

`required(call, facts)` turns one call into the IAM requests AWS evaluates for it, from
"Actions, resources, and condition keys" of each service:
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html
https://docs.aws.amazon.com/service-authorization/latest/reference/list_awskeymanagementservice.html
https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecretsmanager.html
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsqs.html
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonbedrock.html
including the calls a service makes to KMS with the caller's permissions (kms:ViaService):
- S3 with SSE-KMS: PutObject needs kms:GenerateDataKey and GetObject kms:Decrypt, with
  the encryption context aws:s3:arn (the bucket's ARN with an S3 Bucket Key)
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html
- Secrets Manager: GetSecretValue needs kms:Decrypt with the context SecretARN
  https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html
- DynamoDB with a customer managed key: every read or write of the table's items, and
  every read of its stream (encrypted with the table's key), may make DynamoDB decrypt
  the table key as the caller, with the context aws:dynamodb:tableName and
  aws:dynamodb:subscriberId (the key is cached for five minutes of activity per
  connection, so any call can be the one that needs it)
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.howitworks.html
and S3's rule for a missing object: without s3:ListBucket on the bucket, GetObject and
HeadObject answer 403 instead of 404, so a call that got a 404 needed it
https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html
https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html

A call it does not know raises `NotModelled`: a new kind of call must be taught here,
never silently passed.

Not modelled: X-Ray and CloudWatch Logs writes (made by the Lambda runtime, not emulated
locally). docs/encryption.md lists, for every resource encrypted with a customer managed
key, which service calls KMS and as whom.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import boto3

from local.iam_eval import Request, default_key_policy
from local.runtime import current_function

_STASH = "serenya_recorded_params"


class NotModelled(Exception):
    """A call whose IAM requirements this module does not know yet."""


@dataclass(frozen=True)
class Call:
    function: str
    service: str  # botocore's service name: s3, dynamodb, kms, dynamodbstreams...
    operation: str  # GetObject
    params: Mapping[str, Any]
    status: int  # HTTP status of the reply (0: no reply, e.g. a presigned POST)
    response: Mapping[str, Any]
    region: str


@dataclass
class Facts:
    """What the program declares that a call's requirements depend on."""

    account_id: str
    bucket_keys: dict[str, tuple[str, bool]] = field(default_factory=dict)  # bucket -> (key ARN, bucket key)
    secret_keys: dict[str, str] = field(default_factory=dict)  # secret name -> key ARN
    table_keys: dict[str, str] = field(default_factory=dict)  # table name -> key ARN
    key_policies: dict[str, dict] = field(default_factory=dict)  # key ARN -> key policy
    roles: dict[str, str] = field(default_factory=dict)  # function -> role ARN
    role_policies: dict[str, list[dict]] = field(default_factory=dict)  # function -> identity policies

    @classmethod
    def from_program(cls, run) -> Facts:
        """From a `local.program.ProgramRun` (its recorded resources)."""
        m = run.mocks
        facts = cls(account_id=m.account_id)
        for sse in m.of_type("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"):
            rule = sse.inputs["rules"][0]
            default = rule["applyServerSideEncryptionByDefault"]
            if default["sseAlgorithm"] == "aws:kms":
                facts.bucket_keys[sse.inputs["bucket"]] = (
                    default["kmsMasterKeyId"],
                    bool(rule.get("bucketKeyEnabled")),
                )
        for secret in m.of_type("aws:secretsmanager/secret:Secret"):
            if secret.inputs.get("kmsKeyId"):
                facts.secret_keys[secret.inputs["name"]] = secret.inputs["kmsKeyId"]
        for table in m.of_type("aws:dynamodb/table:Table"):
            sse = table.inputs.get("serverSideEncryption") or {}
            if sse.get("enabled") and sse.get("kmsKeyArn"):
                facts.table_keys[table.inputs["name"]] = sse["kmsKeyArn"]
        for key in m.of_type("aws:kms/key:Key"):
            policy = key.inputs.get("policy")
            facts.key_policies[key.state["arn"]] = json.loads(policy) if policy else default_key_policy(m.account_id)
        roles = {r.state["arn"]: r for r in m.of_type("aws:iam/role:Role")}
        physical = run.outputs["functions"]
        for fn in m.of_type("aws:lambda/function:Function"):
            name = next((n for n, p in physical.items() if p == fn.inputs["name"]), None)
            if name is None:
                continue
            role = roles[fn.inputs["role"]]
            facts.roles[name] = role.state["arn"]
            facts.role_policies[name] = [
                json.loads(p.inputs["policy"])
                for p in m.of_type("aws:iam/rolePolicy:RolePolicy")
                if p.inputs["role"] in (role.id, role.inputs.get("name"))
            ]
            for attachment in m.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
                if attachment.inputs["role"] in (role.id, role.inputs.get("name")):
                    raise NotModelled(f"managed policy {attachment.inputs['policyArn']} on {name}'s role")
        return facts


class CallRecorder:
    """Install on the functions' default session (before their clients exist) and attach
    to any other client used with a function's role."""

    def __init__(self):
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._emitters: list = []

    def install(self) -> CallRecorder:
        self.attach_emitter(boto3._get_default_session().events)
        return self

    def attach(self, client) -> None:
        self.attach_emitter(client.meta.events)

    def attach_emitter(self, events) -> None:
        events.register("provide-client-params", self._stash)
        events.register("after-call", self._after_call)
        events.register("before-sign.s3.PutObject", self._before_sign)
        self._emitters.append(events)

    def uninstall(self) -> None:
        for events in self._emitters:
            events.unregister("provide-client-params", self._stash)
            events.unregister("after-call", self._after_call)
            events.unregister("before-sign.s3.PutObject", self._before_sign)
        self._emitters.clear()

    def _stash(self, params, context, **_):
        if current_function() is not None:
            context[_STASH] = dict(params)

    def _after_call(self, http_response, parsed, model, context, **_):
        function = current_function()
        if function is None or _STASH not in context:
            return
        self._add(
            Call(
                function,
                model.service_model.service_name,
                model.name,
                context[_STASH],
                getattr(http_response, "status_code", 0),
                parsed or {},
                context.get("client_region") or "",
            )
        )

    def _before_sign(self, request, region_name=None, **_):
        function = current_function()
        fields = request.context.get("s3-presign-post-fields")
        if function is None or fields is None:
            return
        bucket = request.context.get(_STASH, {}).get("Bucket")
        policy = request.context.get("s3-presign-post-policy", {})
        self._add(
            Call(
                function,
                "s3",
                "PresignedPost",
                {"Bucket": bucket, "Key": fields.get("key"), "Fields": dict(fields), "Policy": policy},
                0,
                {},
                request.context.get("client_region") or region_name or "",
            )
        )

    def _add(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)


# -- what each call needs -----------------------------------------------------------


def _s3_object(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def _s3(action: str, resource: str, **context) -> Request:
    return Request(f"s3:{action}", resource, {"aws:SecureTransport": True, **context})


def _kms_via(service: str, call: Call, facts: Facts, action: str, key: str, context: Mapping[str, str]) -> Request:
    return Request(
        f"kms:{action}",
        key,
        {
            "kms:ViaService": f"{service}.{call.region}.amazonaws.com",
            "kms:CallerAccount": facts.account_id,
            "aws:SecureTransport": True,
            **{f"kms:EncryptionContext:{k}": v for k, v in context.items()},
            "kms:EncryptionContextKeys": sorted(context),
        },
    )


def _sse_kms(call: Call, facts: Facts, bucket: str, key: str, action: str, requested_key: str | None) -> list[Request]:
    default_key, bucket_key = facts.bucket_keys.get(bucket, (None, False))
    kms_key = requested_key or default_key
    if not kms_key:
        return []
    context = {"aws:s3:arn": f"arn:aws:s3:::{bucket}" if bucket_key else _s3_object(bucket, key)}
    return [_kms_via("s3", call, facts, action, kms_key, context)]


def _s3_requests(call: Call, facts: Facts) -> list[Request]:
    p, op = call.params, call.operation
    bucket = cast(str, p.get("Bucket"))  # every operation modelled below has the required Bucket
    if op in ("GetObject", "HeadObject"):
        needed = [_s3("GetObject", _s3_object(bucket, p["Key"]))]
        if call.status == 404:  # S3 says "not found" only to callers that may list the bucket
            needed.append(_s3("ListBucket", f"arn:aws:s3:::{bucket}", **{"s3:prefix": p["Key"]}))
        if op == "GetObject" and call.status == 200:  # objects are written under the bucket's default key
            needed += _sse_kms(call, facts, bucket, p["Key"], "Decrypt", call.response.get("SSEKMSKeyId"))
        return needed
    if op in ("PutObject", "PresignedPost"):
        key = p["Key"]
        requested = p.get("SSEKMSKeyId") or (p.get("Fields") or {}).get("x-amz-server-side-encryption-aws-kms-key-id")
        return [_s3("PutObject", _s3_object(bucket, key))] + _sse_kms(
            call, facts, bucket, key, "GenerateDataKey", requested
        )
    if op == "DeleteObject":
        return [_s3("DeleteObject", _s3_object(bucket, p["Key"]))]
    if op == "DeleteObjects":
        return [_s3("DeleteObject", _s3_object(bucket, o["Key"])) for o in p["Delete"]["Objects"]]
    if op in ("ListObjectsV2", "ListObjects"):
        context = {"s3:prefix": p["Prefix"]} if "Prefix" in p else {}
        return [_s3("ListBucket", f"arn:aws:s3:::{bucket}", **context)]
    if op == "CopyObject":
        source = p["CopySource"]
        if isinstance(source, str):
            source_bucket, _, source_key = urllib.parse.unquote(source).lstrip("/").partition("/")
        else:
            source_bucket, source_key = source["Bucket"], source["Key"]
        return (
            [_s3("GetObject", _s3_object(source_bucket, source_key)), _s3("PutObject", _s3_object(bucket, p["Key"]))]
            + _sse_kms(call, facts, source_bucket, source_key, "Decrypt", None)
            + _sse_kms(call, facts, bucket, p["Key"], "GenerateDataKey", p.get("SSEKMSKeyId"))
        )
    raise NotModelled(f"s3.{op}")


_TRANSACT = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def _table_arn(call: Call, facts: Facts, table: str) -> str:
    return table if table.startswith("arn:") else f"arn:aws:dynamodb:{call.region}:{facts.account_id}:table/{table}"


def _item_context(op: str, p: Mapping[str, Any]) -> dict:
    """The fine-grained access keys of a single-item call: the partition key written or
    read (dynamodb:LeadingKeys), for PutItem the item's attribute names
    (dynamodb:Attributes) and ReturnValues, for GetItem the projected attributes and
    dynamodb:Select (SPECIFIC_ATTRIBUTES with a projection, ALL_ATTRIBUTES without).
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html"""
    key = p.get("Item") if op == "PutItem" else p.get("Key")
    if not key or "PK" not in key:  # the table's partition key (components/storage.py)
        return {}
    partition = key["PK"]
    context: dict = {"dynamodb:LeadingKeys": [partition.get("S", "") if isinstance(partition, dict) else partition]}
    if op == "PutItem":
        context["dynamodb:Attributes"] = sorted(p["Item"])
        context["dynamodb:ReturnValues"] = p.get("ReturnValues", "NONE")
    if op == "GetItem":
        projection = p.get("ProjectionExpression")
        if projection:
            names = p.get("ExpressionAttributeNames") or {}
            context["dynamodb:Attributes"] = sorted(
                {names.get(a.strip(), a.strip()).split(".")[0] for a in projection.split(",")}
            )
        context["dynamodb:Select"] = "SPECIFIC_ATTRIBUTES" if projection else "ALL_ATTRIBUTES"
    return context


def _table_name(table: str) -> str:
    """A table's name from its name, its ARN or one of its streams' or indexes' ARNs."""
    return table.split(":table/", 1)[-1].split("/", 1)[0]


def _table_key(call: Call, facts: Facts, table: str) -> list[Request]:
    """DynamoDB's Decrypt of the table key, made with the caller's permissions."""
    name = _table_name(table)
    key = facts.table_keys.get(name)
    if not key:
        return []  # an AWS owned key: no caller permission involved
    return [
        _kms_via(
            "dynamodb",
            call,
            facts,
            "Decrypt",
            key,
            {"aws:dynamodb:tableName": name, "aws:dynamodb:subscriberId": facts.account_id},
        )
    ]


def _dynamodb_requests(call: Call, facts: Facts) -> list[Request]:
    p, op = call.params, call.operation
    if op == "DescribeTable":  # metadata: no item is read, no table key needed
        return [Request(f"dynamodb:{op}", _table_arn(call, facts, p["TableName"]))]
    if op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Scan", "Query"):
        resource = _table_arn(call, facts, p["TableName"])
        if p.get("IndexName"):
            resource += f"/index/{p['IndexName']}"
        context = _item_context(op, p) if op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem") else {}
        return [Request(f"dynamodb:{op}", resource, context)] + _table_key(call, facts, p["TableName"])
    if op in ("BatchGetItem", "BatchWriteItem"):
        return [
            r
            for t in p["RequestItems"]
            for r in [Request(f"dynamodb:{op}", _table_arn(call, facts, t))] + _table_key(call, facts, t)
        ]
    if op in ("TransactWriteItems", "TransactGetItems"):
        # No action of their own: each item needs the action of its kind.
        # Fine-grained conditions (dynamodb:LeadingKeys...) apply to each item as to its single-item call.
        items = [(kind, spec) for item in p["TransactItems"] for kind, spec in item.items()]
        return [
            Request(
                f"dynamodb:{_TRANSACT[kind]}",
                _table_arn(call, facts, spec["TableName"]),
                _item_context(_TRANSACT[kind], spec),
            )
            for kind, spec in items
        ] + [
            r
            for table in sorted({_table_name(s["TableName"]) for _, s in items})
            for r in _table_key(call, facts, table)
        ]
    raise NotModelled(f"dynamodb.{op}")


class _Iterators:
    """Shard iterators are opaque: remember which stream each one reads."""

    def __init__(self):
        self.streams: dict[str, str] = {}


def _streams_requests(call: Call, facts: Facts, iterators: _Iterators) -> list[Request]:
    p, op, r = call.params, call.operation, call.response
    if op in ("DescribeStream", "GetShardIterator"):
        if r.get("ShardIterator"):
            iterators.streams[r["ShardIterator"]] = p["StreamArn"]
        return [Request(f"dynamodb:{op}", p["StreamArn"])]
    if op == "GetRecords":
        stream = iterators.streams.get(p["ShardIterator"])
        if stream is None:
            raise NotModelled("dynamodbstreams.GetRecords with an iterator not seen before")
        if r.get("NextShardIterator"):
            iterators.streams[r["NextShardIterator"]] = stream
        # The stream's records are encrypted with the table's key (its ARN names the table).
        return [Request("dynamodb:GetRecords", stream)] + _table_key(call, facts, stream)
    if op == "ListStreams":
        return [Request("dynamodb:ListStreams", "*")]
    raise NotModelled(f"dynamodbstreams.{op}")


def _kms_requests(call: Call, facts: Facts) -> list[Request]:
    p, op = call.params, call.operation
    key = call.response.get("KeyId") or p.get("KeyId") or ""
    if key.startswith("alias/") or not key:
        raise NotModelled(f"kms.{op} without a key ARN or id")
    if not key.startswith("arn:"):
        key = f"arn:aws:kms:{call.region}:{facts.account_id}:key/{key}"
    encryption_context = p.get("EncryptionContext") or {}
    context: dict[str, Any] = {"kms:CallerAccount": facts.account_id, "aws:SecureTransport": True}
    if encryption_context:
        context.update({f"kms:EncryptionContext:{k}": v for k, v in encryption_context.items()})
        context["kms:EncryptionContextKeys"] = sorted(encryption_context)
    for param, condition in (
        ("SigningAlgorithm", "kms:SigningAlgorithm"),
        ("MessageType", "kms:MessageType"),
        ("KeySpec", "kms:DataKeyKeySpec"),
        ("EncryptionAlgorithm", "kms:EncryptionAlgorithm"),
    ):
        if param in p:
            context[condition] = p[param]
    return [Request(f"kms:{op}", key, context)]


def _secrets_requests(call: Call, facts: Facts) -> list[Request]:
    if call.operation != "GetSecretValue":
        raise NotModelled(f"secretsmanager.{call.operation}")
    arn = call.response.get("ARN") or call.params["SecretId"]
    needed = [Request("secretsmanager:GetSecretValue", arn, {"aws:SecureTransport": True})]
    name = call.response.get("Name") or arn
    key = facts.secret_keys.get(name)
    if key and call.status == 200:
        needed.append(
            _kms_via(
                "secretsmanager",
                call,
                facts,
                "Decrypt",
                key,
                {"SecretARN": arn, "SecretVersionId": call.response.get("VersionId", "")},
            )
        )
    return needed


def _sqs_requests(call: Call, facts: Facts) -> list[Request]:
    if call.operation not in ("SendMessage", "SendMessageBatch"):
        raise NotModelled(f"sqs.{call.operation}")
    name = call.params["QueueUrl"].rstrip("/").rsplit("/", 1)[-1]
    return [Request("sqs:SendMessage", f"arn:aws:sqs:{call.region}:{facts.account_id}:{name}")]


def _bedrock_requests(call: Call, facts: Facts) -> list[Request]:
    action = {
        "Converse": "InvokeModel",
        "InvokeModel": "InvokeModel",
        "ConverseStream": "InvokeModelWithResponseStream",
        "InvokeModelWithResponseStream": "InvokeModelWithResponseStream",
    }.get(call.operation)
    if action is None:
        raise NotModelled(f"bedrock-runtime.{call.operation}")
    # What Bedrock authorizes, written from AWS's page rather than from components/iam.py
    # (which writes the policy): through a system-defined profile `<geo>.<model>`, the
    # profile in the calling region and account, then the model in the region the profile
    # routes the request to (here the calling one), with the profile as
    # bedrock:InferenceProfileArn. https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-prereq.html
    model = call.params["modelId"]
    if model.startswith("arn:"):
        return [Request(f"bedrock:{action}", model)]
    geo, _, base = model.partition(".")
    if base and ":" in base and "." in base:  # `eu.anthropic.claude-...:0`, not `anthropic.claude-...:0`
        profile = f"arn:aws:bedrock:{call.region}:{facts.account_id}:inference-profile/{model}"
        return [
            Request(f"bedrock:{action}", profile),
            Request(
                f"bedrock:{action}",
                f"arn:aws:bedrock:{call.region}::foundation-model/{base}",
                {"bedrock:InferenceProfileArn": profile},
            ),
        ]
    return [Request(f"bedrock:{action}", f"arn:aws:bedrock:{call.region}::foundation-model/{model}")]


class Requirements:
    """`required(call)` for a sequence of calls (stream iterators carry over)."""

    def __init__(self, facts: Facts):
        self.facts = facts
        self._iterators = _Iterators()

    def required(self, call: Call) -> list[Request]:
        if call.service == "s3":
            return _s3_requests(call, self.facts)
        if call.service == "dynamodb":
            return _dynamodb_requests(call, self.facts)
        if call.service == "dynamodbstreams":
            return _streams_requests(call, self.facts, self._iterators)
        if call.service == "kms":
            return _kms_requests(call, self.facts)
        if call.service == "secretsmanager":
            return _secrets_requests(call, self.facts)
        if call.service == "sqs":
            return _sqs_requests(call, self.facts)
        if call.service == "bedrock-runtime":
            return _bedrock_requests(call, self.facts)
        if call.service == "sts" and call.operation == "GetCallerIdentity":
            return []  # needs no permission
        raise NotModelled(f"{call.service}.{call.operation}")
