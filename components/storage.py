"""StorageLayer: KMS keys, the single DynamoDB table, the S3 buckets and the secret.

Everything that holds data is encrypted with the stack's storage key; every bucket is
private and refuses plain HTTP. The table and the temp bucket are the only places
user data touches the server: the table keeps accounts (PII encrypted per field by
the functions, under per-user data keys that only the PII key wraps), the temp
bucket keeps job files for at most two days. Keys are split by purpose: storage,
PII, the email HMAC, access-token signing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import Settings

# Job files (uploads and results) are deleted by S3 after this many days at the latest.
JOB_FILE_DAYS = 2
# Audit events are kept seven years (HIPAA), cheaper with age; Athena still reads
# Glacier Instant Retrieval, unlike Glacier Flexible Retrieval.
AUDIT_IA_DAYS = 90
AUDIT_GLACIER_IR_DAYS = 365
AUDIT_RETENTION_DAYS = 7 * 365
ATHENA_RESULTS_DAYS = 7
JOB_PREFIXES = ("incoming/", "outgoing/", "claims/")


def tls_only_statement(bucket_arn: str) -> dict:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def account_statement(account_id: str) -> dict:
    return {
        "Sid": "AccountAdministersThroughIam",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }


def alarms_statement(account_id: str) -> dict:
    """CloudWatch alarms may publish to topics encrypted with the key."""
    return {
        "Sid": "CloudWatchAlarmsPublishToEncryptedTopics",
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
    }


# Administration without any way to use or delegate use of a key: no kms:CreateGrant
# (a grant could give Decrypt past the conditions), no kms:Create* that would include it.
KEY_ADMINISTRATION = [
    "kms:CreateAlias",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
]


def pii_key_policy(account_id: str) -> dict:
    """The PII key wraps per-user data keys and nothing else. The account administers it;
    cryptographic use is delegated to IAM (only the roles the catalog gives `pii_key`
    hold a statement for it, components/iam.py) and, whatever IAM says, only directly
    (never through another service, so no bucket, table or log group can be encrypted
    with it) and only with a user id as encryption context."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministersTheKey",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": KEY_ADMINISTRATION,
                "Resource": "*",
            },
            {
                "Sid": "PerUserDataKeysOnlyThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": "*",
                "Condition": {"Null": {"kms:EncryptionContext:user_id": "false", "kms:ViaService": "true"}},
            },
        ],
    }


def email_mac_key_policy(account_id: str) -> dict:
    """The HMAC key: administered by the account, GenerateMac delegated to IAM (the auth
    function only); VerifyMac is never needed (lookups compare MACs in the index)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministersTheKey",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": KEY_ADMINISTRATION,
                "Resource": "*",
            },
            {
                "Sid": "GenerateMacThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": ["kms:GenerateMac"],
                "Resource": "*",
            },
        ],
    }


def data_key_policy(account_id: str, region: str) -> dict:
    """IAM in this account governs use of the key; CloudWatch Logs may use it for this
    account's log groups and CloudWatch alarms for the alarm topics (neither service can
    use a key through IAM alone)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            account_statement(account_id),
            alarms_statement(account_id),
            {
                "Sid": "CloudWatchLogsEncryptsThisAccountsLogGroups",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                "Resource": "*",
                "Condition": {
                    "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account_id}:log-group:*"}
                },
            },
        ],
    }


# How long a versioned bucket keeps an object's replaced or deleted versions (a rewritten
# audit file's earlier bytes among them: analytics_queries/docs.py, the erasure section).
NONCURRENT_VERSION_DAYS = 30


@dataclass(frozen=True)
class LifecycleRule:
    id: str
    prefix: str
    expire_days: int
    transitions: tuple[tuple[int, str], ...] = ()  # (days, storage class)


@dataclass(frozen=True)
class SecureBucketArgs:
    bucket_name: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    lifecycle: Sequence[LifecycleRule]
    cors_origins: Sequence[str] = ()
    versioned: bool = False
    force_destroy: bool = True
    keep: bool = False  # protect and retain_on_delete on the bucket and every setting of it (data to keep)


class SecureBucket(pulumi.ComponentResource):
    """A private bucket: SSE-KMS with a bucket key, public access blocked, owner-enforced
    objects, TLS-only policy and a lifecycle. The only way this project makes buckets."""

    def __init__(self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("serenya:storage:SecureBucket", name, None, opts)
        # A kept bucket keeps its settings too: retain_on_delete is per resource, so a refactor
        # that replaced or dropped them would keep the bucket and delete its 7-year lifecycle,
        # its TLS-only policy or its encryption default. Set on every child, not left to
        # inheritance from the component (the SDK passes on protect only).
        child = pulumi.ResourceOptions(parent=self, protect=args.keep or None, retain_on_delete=args.keep or None)

        self.bucket = aws.s3.Bucket(name, bucket=args.bucket_name, force_destroy=args.force_destroy, opts=child)
        bucket_id = self.bucket.id
        self.public_access_block = aws.s3.BucketPublicAccessBlock(
            name,
            bucket=bucket_id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            name, bucket=bucket_id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=child
        )
        self.encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            name,
            bucket=bucket_id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {
                        "sse_algorithm": "aws:kms",
                        "kms_master_key_id": args.kms_key_arn,
                    },
                    "bucket_key_enabled": True,
                }
            ],
            opts=child,
        )
        if args.versioned:
            aws.s3.BucketVersioning(name, bucket=bucket_id, versioning_configuration={"status": "Enabled"}, opts=child)
        self.lifecycle = aws.s3.BucketLifecycleConfiguration(
            name, bucket=bucket_id, rules=[_lifecycle_rule(r, args.versioned) for r in args.lifecycle], opts=child
        )
        if args.cors_origins:
            # The app's web origins upload job files straight to S3 with a presigned POST.
            aws.s3.BucketCorsConfiguration(
                name,
                bucket=bucket_id,
                cors_rules=[
                    {
                        "allowed_methods": ["POST"],
                        "allowed_origins": list(args.cors_origins),
                        "allowed_headers": ["Content-Type"],
                        "expose_headers": ["ETag"],
                        "max_age_seconds": 3000,
                    }
                ],
                opts=child,
            )
        self.policy = aws.s3.BucketPolicy(
            name,
            bucket=bucket_id,
            policy=self.bucket.arn.apply(
                lambda arn: json.dumps({"Version": "2012-10-17", "Statement": [tls_only_statement(arn)]})
            ),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[self.public_access_block])),
        )

        self.name = self.bucket.bucket
        self.arn = self.bucket.arn
        self.register_outputs({"name": self.name, "arn": self.arn})


def _lifecycle_rule(rule: LifecycleRule, versioned: bool) -> aws.s3.BucketLifecycleConfigurationRuleArgsDict:
    spec: aws.s3.BucketLifecycleConfigurationRuleArgsDict = {
        "id": rule.id,
        "status": "Enabled",
        "filter": {"prefix": rule.prefix},
        "expiration": {"days": rule.expire_days},
        "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
    }
    if rule.transitions:
        spec["transitions"] = [{"days": d, "storage_class": c} for d, c in rule.transitions]
    if versioned:
        spec["noncurrent_version_expiration"] = {"noncurrent_days": NONCURRENT_VERSION_DAYS}
    return spec


@dataclass(frozen=True)
class StorageArgs:
    settings: Settings
    account_id: pulumi.Input[str]


class StorageLayer(pulumi.ComponentResource):
    """Keys, table, buckets and the secret of one stack."""

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("serenya:storage:StorageLayer", name, None, opts)
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)
        # What holds data to keep, in a stack with serenya:deletionProtection: `protect` stops
        # `pulumi destroy` and a deleted declaration; retain_on_delete leaves the resource in
        # AWS should it ever be removed from the program or replaced (a refactor, a rename
        # without `aliases`): https://www.pulumi.com/docs/iac/concepts/options/retainondelete/
        keep = s.deletion_protection
        protect = pulumi.ResourceOptions(parent=self, protect=keep, retain_on_delete=keep)
        # KMS waits 7 to 30 days before deleting a key; dev takes the shortest.
        key_window = 30 if keep else 7

        # Keys by purpose (DESIGN.md, Storage), so a role that may read a bucket cannot
        # also open personal data. The storage key (`data_key`, its resource name kept so
        # no stack replaces it): table, buckets, logs, secret, topics.
        def key(suffix: str, alias: str, description: str, policy=None, **spec) -> aws.kms.Key:
            """A key kept like the data it protects, with its alias `alias/serenya-{env}[-...]`.
            A policy is a function of the account id; symmetric keys rotate."""
            created = aws.kms.Key(
                f"{name}-{suffix}",
                description=f"Serenya {s.env}: {description}",
                deletion_window_in_days=key_window,
                policy=policy
                and pulumi.Output.from_input(args.account_id).apply(lambda account: json.dumps(policy(account))),
                **(spec or {"enable_key_rotation": True}),
                opts=protect,
            )
            aws.kms.Alias(f"{name}-{suffix}", name=f"alias/{alias}", target_key_id=created.key_id, opts=child)
            return created

        self.data_key = key(
            "data",
            s.name(),
            "storage (table, buckets, logs, secret, topics)",
            lambda account: data_key_policy(account, s.region),
        )
        # The PII key only wraps the per-user data keys (email and names, functions/common/crypto.py).
        self.pii_key = key("pii", s.name("pii"), "per-user PII data keys only", pii_key_policy)
        # The email lookup hash (GSI1) is an HMAC under this key: it means nothing without it.
        # https://docs.aws.amazon.com/kms/latest/developerguide/hmac.html
        self.email_mac_key = key(
            "email-mac",
            s.name("email-mac"),
            "HMAC of normalised emails for the lookup index",
            email_mac_key_policy,
            customer_master_key_spec="HMAC_256",
            key_usage="GENERATE_VERIFY_MAC",
        )
        # Access tokens are signed inside KMS: no signing secret exists anywhere.
        self.signing_key = key(
            "signing",
            s.name("signing"),
            "ES256 access-token signing",
            customer_master_key_spec="ECC_NIST_P256",
            key_usage="SIGN_VERIFY",
        )
        # The canary's tokens have their own key (and kid): the authorizer honours one signed
        # with it for the canary account only, so the canary's role cannot mint a user's token.
        self.canary_signing_key = key(
            "signing-canary",
            s.name("signing-canary"),
            "ES256 canary access-token signing (the synthetic user only)",
            customer_master_key_spec="ECC_NIST_P256",
            key_usage="SIGN_VERIFY",
        )

        self.table = aws.dynamodb.Table(
            f"{name}-table",
            name=s.name(),
            billing_mode="PAY_PER_REQUEST",
            hash_key="PK",
            range_key="SK",
            attributes=[{"name": n, "type": "S"} for n in ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK")],
            global_secondary_indexes=[
                # GSI1: hash of the normalised email; GSI2: EXTERNAL#{provider}#{sub}.
                {"name": "GSI1", "hash_key": "GSI1PK", "range_key": "GSI1SK", "projection_type": "ALL"},
                {"name": "GSI2", "hash_key": "GSI2PK", "range_key": "GSI2SK", "projection_type": "ALL"},
            ],
            stream_enabled=True,
            stream_view_type="NEW_AND_OLD_IMAGES",
            server_side_encryption={"enabled": True, "kms_key_arn": self.data_key.arn},
            point_in_time_recovery={"enabled": s.point_in_time_recovery},
            deletion_protection_enabled=s.deletion_protection,
            ttl={"attribute_name": "ttl", "enabled": True},
            opts=protect,
        )

        def bucket_name(purpose: str) -> pulumi.Output[str]:
            # Bucket names are global: the account id keeps stacks of different accounts apart.
            return pulumi.Output.from_input(args.account_id).apply(lambda a: f"{s.name(purpose)}-{a}")

        self.temp_bucket = SecureBucket(
            f"{name}-temp",
            SecureBucketArgs(
                bucket_name=bucket_name("temp"),
                kms_key_arn=self.data_key.arn,
                lifecycle=[LifecycleRule(f"expire-{p.rstrip('/')}", p, JOB_FILE_DAYS) for p in JOB_PREFIXES],
                cors_origins=s.allowed_origins,
            ),
            opts=child,
        )

        self.events_bucket = SecureBucket(
            f"{name}-events",
            SecureBucketArgs(
                bucket_name=bucket_name("events"),
                kms_key_arn=self.data_key.arn,
                lifecycle=[
                    LifecycleRule(
                        "audit-retention",
                        "audit/",
                        AUDIT_RETENTION_DAYS,
                        ((AUDIT_IA_DAYS, "STANDARD_IA"), (AUDIT_GLACIER_IR_DAYS, "GLACIER_IR")),
                    )
                ],
                versioned=True,
                force_destroy=not keep,
                keep=keep,
            ),
            opts=child,
        )

        self.athena_results_bucket = SecureBucket(
            f"{name}-athena",
            SecureBucketArgs(
                bucket_name=bucket_name("athena-results"),
                kms_key_arn=self.data_key.arn,
                lifecycle=[LifecycleRule("expire-results", "", ATHENA_RESULTS_DAYS)],
            ),
            opts=child,
        )

        self.secret = aws.secretsmanager.Secret(
            f"{name}-third-party",
            name=f"{s.project}/{s.env}/third-party",
            description="Credentials for third-party APIs (e.g. Google Play Developer API)",
            kms_key_id=self.data_key.arn,
            # A deleted secret keeps its name through the recovery window: a dev stack
            # destroyed and re-created would fail on CreateSecret, so dev deletes at once (0).
            # https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html
            recovery_window_in_days=30 if keep else 0,
            opts=protect,
        )

        # What the stack exports (components/stack.py) and the console shows under this layer.
        self.outputs = {
            "table": self.table.name,
            "table_stream_arn": self.table.stream_arn,
            "temp_bucket": self.temp_bucket.name,
            "events_bucket": self.events_bucket.name,
            "athena_results_bucket": self.athena_results_bucket.name,
            "data_key_arn": self.data_key.arn,
            "pii_key_arn": self.pii_key.arn,
            "email_mac_key_arn": self.email_mac_key.arn,
            "signing_key_arn": self.signing_key.arn,
            "canary_signing_key_arn": self.canary_signing_key.arn,
            "secret_arn": self.secret.arn,
        }
        self.register_outputs(self.outputs)
