"""Who calls KMS for each thing the program encrypts with a customer managed key.

A service that encrypts with a customer managed key calls KMS either as the principal
that uses the resource (the caller: that principal's IAM policy must allow it, which for
the functions is components/iam.py) or as itself (a service principal: the key policy
must allow it, components/storage.py), or through a grant it creates when the resource is
deployed. Getting this wrong fails only on AWS, on the first request (issue 23: DynamoDB
decrypts the table key as the caller, and no role could). So it is written down once,
here, from AWS's documentation: docs/encryption.md is rendered from this table
(`python -m components.encryption`), and tests/security/test_encryption_table.py checks
that every resource of both stacks that names a key has a row, and that each row's
permission exists where the row says it does. The local call recorder
(local/aws_calls.py) derives the caller-side KMS requests of S3, Secrets Manager and
DynamoDB the same way, and the least-privilege test evaluates them against the roles.

Standard library only: read by tests and the docs renderer without Pulumi.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CALLER = "caller"  # the IAM principal that reads or writes the resource
SERVICE = "service"  # the service's own principal, allowed by the key policy
GRANT = "grant"  # a grant the service creates with the deployer's permissions


@dataclass(frozen=True)
class ServiceKeyUse:
    resource: str  # what is encrypted, as a reader names it
    types: tuple[str, ...]  # the Pulumi types whose encryption settings name the key
    names: str  # regex on the resource's logical name: which of them (a new one needs a look)
    service: str  # the service that calls KMS
    calls_as: str  # CALLER, SERVICE or GRANT
    principals: str  # which principals, in this program
    actions: tuple[str, ...]  # what KMS is asked, as whom `calls_as` says
    context: str  # the encryption context the service sends ("" when none)
    granted_by: str  # where the program allows it (an IAM Sid, a key policy Sid)
    source: str  # AWS's documentation of the above


KEY_USES: tuple[ServiceKeyUse, ...] = (
    ServiceKeyUse(
        "DynamoDB table (items and indexes)",
        ("aws:dynamodb/table:Table",),
        r"-table$",
        "DynamoDB",
        CALLER,
        "every function that reads or writes the table, the authorizer included; the deployer "
        "at CreateTable (kms:CreateGrant, kms:DescribeKey)",
        ("kms:Decrypt",),
        "aws:dynamodb:tableName, aws:dynamodb:subscriberId",
        "IAM UseTableKeyThroughDynamoDB (kms:ViaService dynamodb.<region>, the table's context)",
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.howitworks.html",
    ),
    ServiceKeyUse(
        "DynamoDB stream (the table's key)",
        ("aws:dynamodb/table:Table",),
        r"-table$",
        "DynamoDB Streams",
        CALLER,
        "stream_processor: Lambda's event source mapping reads the stream with the function's execution role. "
        "Inferred, not documented: AWS says only that a stream is encrypted with the table's key and that "
        "DynamoDB sends the same context in every KMS operation; confirm the Decrypt events' user and "
        "invokedBy in CloudTrail on dev's first deployment",
        ("kms:Decrypt",),
        "aws:dynamodb:tableName, aws:dynamodb:subscriberId",
        "IAM UseTableKeyThroughDynamoDB",
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.usagenotes.html; "
        "https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html",
    ),
    ServiceKeyUse(
        "Temp bucket objects (job files, SSE-KMS with an S3 Bucket Key)",
        ("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",),
        r"-temp$",
        "S3",
        CALLER,
        "the functions that write job files (upload and chat_messages sign presigned POSTs: S3 uses the key "
        "with the signer's permissions), read them, or copy them",
        ("kms:GenerateDataKey (write)", "kms:Decrypt (read)"),
        "aws:s3:arn = the bucket's ARN (with a Bucket Key)",
        "IAM UseStorageKeyThroughServices (kms:ViaService s3.<region>)",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html; "
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html",
    ),
    ServiceKeyUse(
        "Events bucket objects (audit Parquet)",
        ("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",),
        r"-events$",
        "S3",
        CALLER,
        "stream_processor and compaction; analysts' own principals when Athena reads the files for them",
        ("kms:GenerateDataKey (write)", "kms:Decrypt (read)"),
        "aws:s3:arn = the bucket's ARN",
        "IAM UseStorageKeyThroughServices; analysts' policies are the account's, outside this program",
        "https://docs.aws.amazon.com/athena/latest/ug/encryption.html",
    ),
    ServiceKeyUse(
        "Athena query results (workgroup SSE_KMS, results bucket)",
        (
            "aws:athena/workgroup:Workgroup",
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        ),
        r"-analysts$|-athena$",
        "Athena through S3",
        CALLER,
        "the analyst running the query: Athena reads and writes S3 with the caller's credentials",
        ("kms:GenerateDataKey", "kms:Decrypt"),
        "aws:s3:arn",
        "the analysts' IAM policies (outside this program); the key policy's account statement",
        "https://docs.aws.amazon.com/athena/latest/ug/encrypting-query-results-stored-in-s3.html",
    ),
    ServiceKeyUse(
        "Objects the deployment writes (list prices, layer archives in the artifacts bucket)",
        (
            "aws:s3/bucketObjectv2:BucketObjectv2",
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        ),
        r"-product-prices$|-artifacts$",
        "S3",
        CALLER,
        "the deployer running `pulumi up` (and Lambda reading a layer archive with the deployer's permissions)",
        ("kms:GenerateDataKey", "kms:Decrypt"),
        "aws:s3:arn",
        "the key policy's account statement and the deployer's IAM permissions",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html",
    ),
    ServiceKeyUse(
        "Third-party secret (Google Play service account)",
        ("aws:secretsmanager/secret:Secret",),
        r"-third-party$",
        "Secrets Manager",
        CALLER,
        "subscriptions (GetSecretValue); the operator who puts the value (PutSecretValue)",
        ("kms:Decrypt (read)", "kms:GenerateDataKey (write)"),
        "SecretARN, SecretVersionId",
        "IAM UseStorageKeyThroughServices (kms:ViaService secretsmanager.<region>)",
        "https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html",
    ),
    ServiceKeyUse(
        "CloudWatch log groups (functions, API access and execution logs)",
        ("aws:cloudwatch/logGroup:LogGroup",),
        r".",  # every log group: one mechanism, the key policy's
        "CloudWatch Logs",
        SERVICE,
        "logs.<region>.amazonaws.com",
        ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"),
        "aws:logs:arn = a log group of this account",
        "key policy CloudWatchLogsEncryptsThisAccountsLogGroups",
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html",
    ),
    ServiceKeyUse(
        "SNS alarm topics (critical, warning; the us-east-1 warning topic under its own key)",
        ("aws:sns/topic:Topic",),
        r"-(critical|warning)(-us-east-1)?$",
        "SNS, published to by CloudWatch alarms",
        SERVICE,
        "cloudwatch.amazonaws.com (the alarms publish; email delivery needs no key permission)",
        ("kms:GenerateDataKey*", "kms:Decrypt"),
        "aws:sns:topicArn = the topic's ARN",
        "key policy CloudWatchAlarmsPublishToEncryptedTopics (aws:SourceAccount)",
        "https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html",
    ),
)

# Encrypted, but not with a customer managed key: what neither the roles nor the key
# policies need to cover. The failure queues use SQS-managed SSE, so Lambda sends failed
# events with sqs:SendMessage alone.
NOT_CUSTOMER_MANAGED = (
    "SQS failure queues: SQS-managed server-side encryption (SSE-SQS)",
    "Lambda environment variables: Lambda's AWS owned key (no function sets kms_key_arn; the key ARNs in "
    "the environment are names, not secrets)",
)

# Where each resource type names the key it is encrypted with (Pulumi's input names):
# what the graph test reads, rather than any mention of a key ARN.
ENCRYPTION_FIELDS = {
    "aws:dynamodb/table:Table": ("serverSideEncryption", "kmsKeyArn"),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "rules",
        0,
        "applyServerSideEncryptionByDefault",
        "kmsMasterKeyId",
    ),
    "aws:s3/bucketObjectv2:BucketObjectv2": ("kmsKeyId",),
    "aws:secretsmanager/secret:Secret": ("kmsKeyId",),
    "aws:cloudwatch/logGroup:LogGroup": ("kmsKeyId",),
    "aws:sns/topic:Topic": ("kmsMasterKeyId",),
    "aws:sqs/queue:Queue": ("kmsMasterKeyId",),
    "aws:lambda/function:Function": ("kmsKeyArn",),
    "aws:athena/workgroup:Workgroup": ("configuration", "resultConfiguration", "encryptionConfiguration", "kmsKeyArn"),
    "aws:kinesis/stream:Stream": ("kmsKeyId",),
    "aws:cloudtrail/trail:Trail": ("kmsKeyId",),
    "aws:ecr/repository:Repository": ("encryptionConfigurations", 0, "kmsKey"),
    "aws:ssm/parameter:Parameter": ("keyId",),
    "aws:glue/dataCatalogEncryptionSettings:DataCatalogEncryptionSettings": (
        "dataCatalogEncryptionSettings",
        "encryptionAtRest",
        "sseAwsKmsKeyId",
    ),
}


def encryption_key(type_: str, inputs: dict) -> str:
    """The key a resource's inputs encrypt it with, or "" (none, or an AWS key)."""
    value = inputs
    for step in ENCRYPTION_FIELDS.get(type_, ()):
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return ""
    return value if isinstance(value, str) and value != inputs else ""


def uses_of(type_: str, name: str) -> list[ServiceKeyUse]:
    """The rows that describe a resource of this type and logical name."""
    return [u for u in KEY_USES if type_ in u.types and re.search(u.names, name)]


def render() -> str:
    lines = [
        "# Who calls KMS, and as whom",
        "",
        "Generated from `components/encryption.py` (`python -m components.encryption > docs/encryption.md`; "
        "a test fails when it is stale).",
        "",
        "Every resource the program encrypts with a customer managed key, the service that calls KMS for it, "
        "and **as whom**: as the *caller* (the principal that reads or writes the resource: its IAM policy "
        "must allow the key, through that service only), as the *service* (its own principal: the key "
        "policy must allow it), or through a *grant* the service creates at deployment. "
        "`tests/security/test_encryption_table.py` checks that every resource of both stacks that names a key "
        "has a row here, and the least-privilege test (`tests/e2e/test_least_privilege.py`) evaluates the "
        "caller-side calls of S3, Secrets Manager and DynamoDB against the roles.",
        "",
        "| Resource | Service | Calls KMS as | Principals | Actions | Encryption context | Allowed by | Source |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for use in KEY_USES:
        cells = (
            use.resource,
            use.service,
            use.calls_as,
            use.principals,
            ", ".join(use.actions),
            use.context or "none",
            use.granted_by,
            " ".join(f"<{url.strip()}>" for url in use.source.split(";")),
        )
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", "Not customer managed, so outside this table:", ""]
    lines += [f"- {item}" for item in NOT_CUSTOMER_MANAGED]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
