"""Least-privilege IAM for one function, derived from what its catalog entry touches.

A pure function of the entry and the stack's ARNs, so the rules can be read and tested
without Pulumi: no `*` action, every resource scoped to this stack. X-Ray is the one
exception AWS forces on us: its write actions support no resource-level permissions.
"""

from __future__ import annotations

from dataclasses import dataclass

from functions.catalog import Function, KeyUse, StreamTrigger, TableAccess
from functions.common import accounts, quotas, usage
from functions.common.canary import CANARY_USER_ID

# Actions that AWS only grants on Resource "*" (no resource-level permissions exist).
UNSCOPABLE_ACTIONS = frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"})

TABLE_READ = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"]
TABLE_WRITE = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"]
STREAM_READ = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
KEY_ACTIONS = {
    KeyUse.ENCRYPT_DECRYPT: ["kms:Decrypt", "kms:GenerateDataKey"],
    KeyUse.DECRYPT: ["kms:Decrypt"],
    KeyUse.SIGN: ["kms:Sign", "kms:GetPublicKey"],
    KeyUse.VERIFY: ["kms:GetPublicKey"],
}
# System-defined cross-region inference profiles are named `<geography>.<model id>`.
INFERENCE_PROFILE_GEOGRAPHIES = ("eu", "us", "apac", "global", "jp", "au", "ca", "us-gov")
# The encryption context of every per-user data key (functions/common/crypto.py).
PII_CONTEXT_KEY = "user_id"
# What proves an account exists (functions/common/accounts.py): the profile's key, nothing else.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples_dynamodb_columns.html
CHECK_ACCOUNT_CONDITION = {
    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["USER#*"]},
    "ForAllValues:StringEquals": {"dynamodb:Attributes": ["PK", "SK"]},
    "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"},
}
USAGE_CHECK_ACCOUNT_CONDITION = {
    **CHECK_ACCOUNT_CONDITION,
    "ForAllValues:StringEquals": {"dynamodb:Attributes": ["PK", "SK", accounts.ANALYTICS_ID]},
}

# Usage records (functions/common/usage.py): new items under USAGE# with those attributes only.
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html
USAGE_RECORD_CONDITION = {
    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{usage.KEY_PREFIX}*"]},
    "ForAllValues:StringEquals": {"dynamodb:Attributes": list(usage.ATTRIBUTES)},
    "StringEqualsIfExists": {"dynamodb:ReturnValues": "NONE"},
}


# The canary's profile (functions/canary): that one item, its keys and creation time, put
# only where it is absent (the canary's conditional put; no overwrite of anything).
CANARY_ACCOUNT_CONDITION = {
    "ForAllValues:StringEquals": {
        "dynamodb:LeadingKeys": [f"USER#{CANARY_USER_ID}"],
        "dynamodb:Attributes": ["PK", "SK", "created_at"],
    },
    "StringEqualsIfExists": {"dynamodb:ReturnValues": "NONE"},
}


# Quota counters (functions/common/quotas.py): updates of QUOTA# items only; the plan's read:
# the profile's subscription and keys, nothing else of it.
QUOTA_COUNTER_CONDITION = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{quotas.KEY_PREFIX}*"]}}
READ_PLAN_CONDITION = {
    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["USER#*"]},
    "ForAllValues:StringEquals": {"dynamodb:Attributes": ["GSI2PK", "PK", "SK", "current_subscription"]},
    "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"},
}

READ_PLAN_USAGE_CONDITION = {
    **READ_PLAN_CONDITION,
    "ForAllValues:StringEquals": {
        "dynamodb:Attributes": ["GSI2PK", "PK", "SK", "current_subscription", accounts.ANALYTICS_ID]
    },
}


def pii_key_condition() -> dict:
    """Per-user data keys only: the request must carry the user id as its encryption
    context and nothing else, and be made by the function itself, not through a service.

    IAM cannot tie the context's value to the caller's access token (a role is shared
    by every request the function serves; the user id comes from the authorizer, inside
    the function), so the value is not pinned: what stops one user's key being opened
    for another is that the ciphertext is bound to its context (KMS refuses a different
    user id) and that only the functions that show or change names and emails hold this
    statement at all. https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html
    https://docs.aws.amazon.com/kms/latest/developerguide/encrypt_context.html"""
    return {
        "Null": {f"kms:EncryptionContext:{PII_CONTEXT_KEY}": "false", "kms:ViaService": "true"},
        "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": [PII_CONTEXT_KEY]},
    }


def table_key_condition(arns: StackArns) -> dict:
    """The storage key only as DynamoDB uses it for this stack's table, on the caller's
    behalf: DynamoDB decrypts the table key with the permissions of the principal that
    reads or writes the table (or its stream, which the same key encrypts), through
    DynamoDB (kms:ViaService) and with the table's encryption context.
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.howitworks.html
    (Authorizing use of your KMS key; DynamoDB encryption context; the Decrypt event of
    "Monitoring DynamoDB interaction with AWS KMS", whose user is the caller)"""
    return {
        "StringEquals": {
            "kms:ViaService": f"dynamodb.{arns.region}.amazonaws.com",
            "kms:EncryptionContext:aws:dynamodb:tableName": arns.table.rsplit("/", 1)[-1],
            "kms:EncryptionContext:aws:dynamodb:subscriberId": arns.account_id,
        }
    }


def via_services(region: str, services: list[str]) -> dict:
    """The storage key only as S3 or Secrets Manager use it on the caller's behalf
    (kms:ViaService); a direct Decrypt call with the role is refused."""
    return {"StringEquals": {"kms:ViaService": [f"{s}.{region}.amazonaws.com" for s in services]}}


@dataclass(frozen=True)
class StackArns:
    """The ARNs a role may be scoped to (resolved values, not Outputs)."""

    region: str
    account_id: str
    log_group: str
    table: str
    table_stream: str
    temp_bucket: str
    events_bucket: str
    data_key: str  # the storage key: table, buckets, logs, secret, topics
    signing_key: str
    secret: str
    bedrock_model_id: str
    failure_queue: str = ""  # DLQ (asynchronous invocation) or on-failure destination (stream)
    pii_key: str = ""  # wraps the per-user data keys only
    email_mac_key: str = ""  # HMAC_256: the email lookup hash
    canary_signing_key: str = ""  # the canary's tokens only


def bedrock_resources(model_id: str, region: str, account_id: str) -> list[str]:
    """A cross-region inference profile routes to the foundation model in several
    regions of its geography: the profile and the model in any region are both needed
    (bedrock_statements scopes the model to calls made through the profile)."""
    if model_id.startswith("arn:"):
        return [model_id]
    profile = inference_profile_arn(model_id, region, account_id)
    if profile:
        return [profile, f"arn:aws:bedrock:*::foundation-model/{model_id.partition('.')[2]}"]
    return [f"arn:aws:bedrock:{region}::foundation-model/{model_id}"]


def inference_profile_arn(model_id: str, region: str, account_id: str) -> str:
    """The ARN of a system-defined cross-region inference profile (`eu.anthropic...`), or
    "" for a model id that names no profile."""
    geo, _, base = model_id.partition(".")
    if geo in INFERENCE_PROFILE_GEOGRAPHIES and base:
        return f"arn:aws:bedrock:{region}:{account_id}:inference-profile/{model_id}"
    return ""


def bedrock_statements(model_id: str, region: str, account_id: str) -> list[dict]:
    """Invoke the stack's model. Through an inference profile, the foundation model may be
    called in any region only as the profile routes it (bedrock:InferenceProfileArn), so
    no request can reach the model directly, in a region outside the profile's geography.
    https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-prereq.html
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonbedrock.html"""
    resources = bedrock_resources(model_id, region, account_id)
    profile = inference_profile_arn(model_id, region, account_id) if not model_id.startswith("arn:") else ""
    if not profile:
        return [_allow("InvokeModel", ["bedrock:InvokeModel"], resources)]
    return [
        _allow("InvokeModel", ["bedrock:InvokeModel"], [profile]),
        {
            **_allow("InvokeModelThroughProfile", ["bedrock:InvokeModel"], [r for r in resources if r != profile]),
            "Condition": {"StringEquals": {"bedrock:InferenceProfileArn": profile}},
        },
    ]


def policy_document(fn: Function, arns: StackArns) -> dict:
    """The inline policy of `fn`'s role."""
    a = fn.access
    statements: list[dict] = [
        _allow("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{arns.log_group}:*"]),
        _allow("WriteTraces", sorted(UNSCOPABLE_ACTIONS), ["*"]),
    ]
    table_access = fn.table_access
    if table_access is TableAccess.CHECK_ACCOUNT and a.quota is not None:
        # Reading the plan for the quota is the account check (no plan: no account).
        # With usage records (upload tickets), the account's analytics id too.
        condition = READ_PLAN_USAGE_CONDITION if a.usage_records else READ_PLAN_CONDITION
        statements.append({**_allow("ReadPlan", ["dynamodb:GetItem"], [arns.table]), "Condition": condition})
    elif table_access is TableAccess.CHECK_ACCOUNT and a.analytics_ids:
        # Compaction maps the user ids of pre-schema-4 days to their accounts' analytics ids,
        # up to 100 profiles a request: the same three attributes, nothing else of a profile.
        statements.append(
            {
                **_allow("ReadAnalyticsIds", ["dynamodb:GetItem", "dynamodb:BatchGetItem"], [arns.table]),
                "Condition": USAGE_CHECK_ACCOUNT_CONDITION,
            }
        )
    elif table_access is TableAccess.CHECK_ACCOUNT:
        # A function writing usage records also reads the account's analytics id with the check.
        condition = USAGE_CHECK_ACCOUNT_CONDITION if a.usage_records else CHECK_ACCOUNT_CONDITION
        statements.append({**_allow("CheckAccountExists", ["dynamodb:GetItem"], [arns.table]), "Condition": condition})
    elif table_access is not TableAccess.NONE:
        table = [arns.table, f"{arns.table}/index/*"]
        statements.append(_allow("ReadTable", TABLE_READ, table))
        if table_access is TableAccess.READ_WRITE:
            statements.append(_allow("WriteTable", TABLE_WRITE, [arns.table]))
    if a.quota is not None:
        statements.append(
            {**_allow("CountQuota", ["dynamodb:UpdateItem"], [arns.table]), "Condition": QUOTA_COUNTER_CONDITION}
        )
    if a.usage_records:
        statements.append(
            {**_allow("WriteUsageRecords", ["dynamodb:PutItem"], [arns.table]), "Condition": USAGE_RECORD_CONDITION}
        )
    if a.canary_account:
        statements.append(
            {**_allow("CreateCanaryAccount", ["dynamodb:PutItem"], [arns.table]), "Condition": CANARY_ACCOUNT_CONDITION}
        )
    if isinstance(fn.trigger, StreamTrigger):
        statements.append(_allow("ReadTableStream", STREAM_READ, [arns.table_stream]))
        statements.append(_allow("ListTableStreams", ["dynamodb:ListStreams"], [f"{arns.table}/stream/*"]))
    if (
        table_access is not TableAccess.NONE
        or a.usage_records
        or a.quota
        or a.canary_account
        or isinstance(fn.trigger, StreamTrigger)
    ):
        # Without it every table or stream read is refused (AccessDeniedException): DynamoDB
        # calls KMS as the caller, not as itself (docs/encryption.md).
        statements.append(
            {
                **_allow("UseTableKeyThroughDynamoDB", ["kms:Decrypt"], [arns.data_key]),
                "Condition": table_key_condition(arns),
            }
        )

    bucket_statements = [
        ("ReadJobFiles", ["s3:GetObject"], a.temp_read),
        ("WriteJobFiles", ["s3:PutObject"], a.temp_write),
        ("DeleteJobFiles", ["s3:DeleteObject"], a.temp_delete),
    ]
    for sid, actions, prefixes in bucket_statements:
        if prefixes:
            statements.append(_allow(sid, actions, [f"{arns.temp_bucket}/{p}*" for p in prefixes]))
    if a.temp_list:
        # Listing tells "not found" from "forbidden"; limited to the prefixes it may read or delete.
        listable = sorted(set(a.temp_read) | set(a.temp_delete))
        statements.append(
            {
                **_allow("ListJobFiles", ["s3:ListBucket"], [arns.temp_bucket]),
                "Condition": {"StringLike": {"s3:prefix": [f"{p}*" for p in listable]}},
            }
        )
    if a.events_write:
        statements.append(
            _allow("WriteAuditEvents", ["s3:PutObject", "s3:DeleteObject"], [f"{arns.events_bucket}/audit/*"])
        )
    if a.events_read:
        statements.append(_allow("ReadAuditEvents", ["s3:GetObject"], [f"{arns.events_bucket}/audit/*"]))
        statements.append(
            {
                **_allow("ListAuditEvents", ["s3:ListBucket"], [arns.events_bucket]),
                "Condition": {"StringLike": {"s3:prefix": ["audit/*"]}},
            }
        )

    # Bucket objects and the secret are encrypted under the storage key: S3 and Secrets
    # Manager use it with the caller's permissions, and only they may (kms:ViaService).
    services = (["s3"] if (a.temp_read or a.temp_write or a.events_read or a.events_write) else []) + (
        ["secretsmanager"] if a.secrets else []
    )
    if services:
        actions = ["kms:Decrypt", "kms:GenerateDataKey"] if (a.temp_write or a.events_write) else ["kms:Decrypt"]
        statements.append(
            {
                **_allow("UseStorageKeyThroughServices", actions, [arns.data_key]),
                "Condition": via_services(arns.region, services),
            }
        )
    if a.pii_key is not None:
        statements.append(
            {**_allow("UnwrapPerUserKeys", KEY_ACTIONS[a.pii_key], [arns.pii_key]), "Condition": pii_key_condition()}
        )
    if a.email_mac:
        statements.append(_allow("HashEmailsForLookup", ["kms:GenerateMac"], [arns.email_mac_key]))
    if a.signing_key is not None:
        statements.append(_allow("UseSigningKey", KEY_ACTIONS[a.signing_key], [arns.signing_key]))
    if a.canary_signing_key is not None:
        statements.append(_allow("UseCanarySigningKey", KEY_ACTIONS[a.canary_signing_key], [arns.canary_signing_key]))
    if a.bedrock:
        statements += bedrock_statements(arns.bedrock_model_id, arns.region, arns.account_id)
    if a.secrets:
        statements.append(_allow("ReadThirdPartySecret", ["secretsmanager:GetSecretValue"], [arns.secret]))
    if arns.failure_queue:
        statements.append(_allow("SendFailedEvents", ["sqs:SendMessage"], [arns.failure_queue]))
    return {"Version": "2012-10-17", "Statement": statements}


def _allow(sid: str, actions: list[str], resources: list[str]) -> dict:
    return {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": list(resources)}
