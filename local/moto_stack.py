"""Provisions moto from the Pulumi program: each declared resource that holds data is
created in the moto server, with the inputs the program gave it.

Functions, roles and log groups are only recorded: the local stack runs the function
code in-process (local/gateway.py, local/triggers.py) with the environment the
program computed for each function.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import boto3

from local.program import RecordingMocks

Provisioner = Callable[["MotoMocks", str, dict], tuple[str, dict]]
# The local stack's only credentials: its own clients and the functions' SDK sign with them,
# and the local S3 checks presigned POST signatures against them.
ACCESS_KEY_ID, SECRET_ACCESS_KEY = "local", "local"


def aws_client(service: str, endpoint_url: str, region: str):
    """A client of the local stack itself, on its own session: the functions' SDK
    (the default session) stays theirs, and what they call can be counted apart."""
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )


class MotoMocks(RecordingMocks):
    def __init__(self, endpoint_url: str, region: str = "eu-west-1"):
        super().__init__(region=region)
        self.endpoint_url = endpoint_url
        self._clients = {
            name: aws_client(name, endpoint_url, region) for name in ("kms", "dynamodb", "s3", "secretsmanager", "sqs")
        }

    def client(self, service: str, region: str | None = None):
        """The service's client, in `region` when a resource names its own (pulumi-aws 7)."""
        if region and region != self.region:
            return aws_client(service, self.endpoint_url, region)
        return self._clients[service]

    def provision(self, type_: str, name: str, inputs: dict) -> tuple[str, dict]:
        create = PROVISIONERS.get(type_)
        if create is None:
            return super().provision(type_, name, inputs)
        return create(self, name, inputs)


def _kms_key(m: MotoMocks, name: str, i: dict) -> tuple[str, dict]:
    kwargs = {
        "Description": i.get("description", ""),
        "KeyUsage": i.get("keyUsage", "ENCRYPT_DECRYPT"),
        "KeySpec": i.get("customerMasterKeySpec", "SYMMETRIC_DEFAULT"),
    }
    if i.get("policy"):
        kwargs["Policy"] = i["policy"]
    kms = m.client("kms", i.get("region"))
    meta = kms.create_key(**kwargs)["KeyMetadata"]
    if i.get("enableKeyRotation"):
        kms.enable_key_rotation(KeyId=meta["KeyId"])
    return meta["KeyId"], {**i, "keyId": meta["KeyId"], "arn": meta["Arn"]}


def _kms_alias(m: MotoMocks, name: str, i: dict) -> tuple[str, dict]:
    m.client("kms").create_alias(AliasName=i["name"], TargetKeyId=i["targetKeyId"])
    return i["name"], {**i, "arn": f"arn:aws:kms:{m.region}:{m.account_id}:{i['name']}"}


def _table(m: MotoMocks, name: str, i: dict) -> tuple[str, dict]:
    key_schema = [
        {"AttributeName": i["hashKey"], "KeyType": "HASH"},
        {"AttributeName": i["rangeKey"], "KeyType": "RANGE"},
    ]
    indexes = [
        {
            "IndexName": g["name"],
            "KeySchema": [
                {"AttributeName": g["hashKey"], "KeyType": "HASH"},
                {"AttributeName": g["rangeKey"], "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": g["projectionType"]},
        }
        for g in i.get("globalSecondaryIndexes", [])
    ]
    ddb = m.client("dynamodb")
    table = ddb.create_table(
        TableName=i["name"],
        BillingMode=i["billingMode"],
        KeySchema=key_schema,
        AttributeDefinitions=[{"AttributeName": a["name"], "AttributeType": a["type"]} for a in i["attributes"]],
        GlobalSecondaryIndexes=indexes,
        StreamSpecification={"StreamEnabled": i["streamEnabled"], "StreamViewType": i["streamViewType"]},
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": i["serverSideEncryption"]["kmsKeyArn"]},
        DeletionProtectionEnabled=i.get("deletionProtectionEnabled", False),
    )["TableDescription"]
    if i.get("ttl", {}).get("enabled"):
        ddb.update_time_to_live(
            TableName=i["name"], TimeToLiveSpecification={"Enabled": True, "AttributeName": i["ttl"]["attributeName"]}
        )
    return i["name"], {**i, "arn": table["TableArn"], "streamArn": table["LatestStreamArn"]}


def _bucket(m: MotoMocks, name: str, i: dict) -> tuple[str, dict]:
    m.client("s3").create_bucket(Bucket=i["bucket"], CreateBucketConfiguration={"LocationConstraint": m.region})
    return i["bucket"], {**i, "arn": f"arn:aws:s3:::{i['bucket']}"}


def _bucket_setting(apply: Callable[[MotoMocks, dict], None]) -> Provisioner:
    def provision(m: MotoMocks, name: str, i: dict) -> tuple[str, dict]:
        apply(m, i)
        return i["bucket"], dict(i)

    return provision


def _encryption(m: MotoMocks, i: dict) -> None:
    rule = i["rules"][0]
    default = rule["applyServerSideEncryptionByDefault"]
    m.client("s3").put_bucket_encryption(
        Bucket=i["bucket"],
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": default["sseAlgorithm"],
                        "KMSMasterKeyID": default["kmsMasterKeyId"],
                    },
                    "BucketKeyEnabled": rule.get("bucketKeyEnabled", False),
                }
            ]
        },
    )


def _public_access_block(m: MotoMocks, i: dict) -> None:
    m.client("s3").put_public_access_block(
        Bucket=i["bucket"],
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": i["blockPublicAcls"],
            "BlockPublicPolicy": i["blockPublicPolicy"],
            "IgnorePublicAcls": i["ignorePublicAcls"],
            "RestrictPublicBuckets": i["restrictPublicBuckets"],
        },
    )


def _lifecycle(m: MotoMocks, i: dict) -> None:
    # Numbers arrive from the Pulumi engine as floats; boto3 wants integers.
    rules = []
    for r in i["rules"]:
        rule = {
            "ID": r["id"],
            "Status": r["status"],
            "Filter": {"Prefix": r["filter"]["prefix"]},
            "Expiration": {"Days": int(r["expiration"]["days"])},
            "AbortIncompleteMultipartUpload": {
                "DaysAfterInitiation": int(r["abortIncompleteMultipartUpload"]["daysAfterInitiation"])
            },
        }
        if r.get("transitions"):
            rule["Transitions"] = [
                {"Days": int(t["days"]), "StorageClass": t["storageClass"]} for t in r["transitions"]
            ]
        if r.get("noncurrentVersionExpiration"):
            rule["NoncurrentVersionExpiration"] = {
                "NoncurrentDays": int(r["noncurrentVersionExpiration"]["noncurrentDays"])
            }
        rules.append(rule)
    m.client("s3").put_bucket_lifecycle_configuration(Bucket=i["bucket"], LifecycleConfiguration={"Rules": rules})


def _cors(m: MotoMocks, i: dict) -> None:
    m.client("s3").put_bucket_cors(
        Bucket=i["bucket"],
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedMethods": r["allowedMethods"],
                    "AllowedOrigins": r["allowedOrigins"],
                    "AllowedHeaders": r.get("allowedHeaders", []),
                    "ExposeHeaders": r.get("exposeHeaders", []),
                    "MaxAgeSeconds": int(r.get("maxAgeSeconds", 0)),
                }
                for r in i["corsRules"]
            ]
        },
    )


def _policy(m: MotoMocks, i: dict) -> None:
    # moto 5 answers a statement whose Condition does not match with DENIED whatever its
    # Effect (moto/iam/access_control.py, is_action_permitted), so the TLS-only Deny would
    # refuse every request. Conditional statements stay out of moto; the tests check the
    # full policy on the program's inputs.
    policy = json.loads(i["policy"])
    statements = [s for s in policy["Statement"] if "Condition" not in s]
    if statements:
        m.client("s3").put_bucket_policy(Bucket=i["bucket"], Policy=json.dumps({**policy, "Statement": statements}))


def _versioning(m: MotoMocks, i: dict) -> None:
    m.client("s3").put_bucket_versioning(
        Bucket=i["bucket"], VersioningConfiguration={"Status": i["versioningConfiguration"]["status"]}
    )


def _secret(m: MotoMocks, name: str, i: dict) -> tuple[str, dict]:
    arn = m.client("secretsmanager").create_secret(
        Name=i["name"], Description=i.get("description", ""), KmsKeyId=i["kmsKeyId"]
    )["ARN"]
    return arn, {**i, "arn": arn}


def _queue(m: MotoMocks, name: str, i: dict) -> tuple[str, dict]:
    sqs = m.client("sqs")
    url = sqs.create_queue(
        QueueName=i["name"],
        Attributes={
            "MessageRetentionPeriod": str(int(i.get("messageRetentionSeconds", 345600))),
            "SqsManagedSseEnabled": json.dumps(bool(i.get("sqsManagedSseEnabled"))),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, {**i, "arn": arn, "url": url}


PROVISIONERS: dict[str, Provisioner] = {
    "aws:kms/key:Key": _kms_key,
    "aws:kms/alias:Alias": _kms_alias,
    "aws:dynamodb/table:Table": _table,
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _bucket_setting(
        _encryption
    ),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _bucket_setting(_public_access_block),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _bucket_setting(_lifecycle),
    "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration": _bucket_setting(_cors),
    "aws:s3/bucketPolicy:BucketPolicy": _bucket_setting(_policy),
    "aws:s3/bucketVersioning:BucketVersioning": _bucket_setting(_versioning),
    "aws:secretsmanager/secret:Secret": _secret,
    "aws:sqs/queue:Queue": _queue,
}
