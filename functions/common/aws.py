"""boto3 clients and resources, created once per container and reused across invocations."""

from __future__ import annotations

import os
from functools import cache

import boto3
from botocore.config import Config

# Fail fast inside a function's timeout; the standard mode retries throttling with backoff.
_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3})
# S3 signs with SigV4 against the regional virtual-hosted endpoint
# (https://<bucket>.s3.<region>.amazonaws.com/), presigned POSTs included: S3 refuses
# SigV2 for buckets created after June 24, 2020 and for SSE-KMS objects, and a new
# bucket answers the global endpoint with 307 redirects that a browser POST cannot follow.
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingAWSSDK.html#UsingAWSSDK-sig2-deprecation
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html
# https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-UsingHTTPPOST.html
# With AWS_ENDPOINT_URL set (the local stack) the SDK uses that endpoint instead.
_S3_CONFIG = _CONFIG.merge(Config(signature_version="s3v4", s3={"addressing_style": "virtual"}))


def region() -> str | None:
    """The function's region (Lambda sets AWS_REGION), named explicitly to every client."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


@cache
def client(service: str):
    return boto3.client(service, region_name=region(), config=_S3_CONFIG if service == "s3" else _CONFIG)


@cache
def table(name: str):
    return boto3.resource("dynamodb", region_name=region(), config=_CONFIG).Table(name)
