"""Lambda's documented size limits, and the sizes of what this program deploys against them.

Pulumi's mocks and moto accept any size; AWS refuses an oversize archive at deployment.
Lambda quotas (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html),
where "MB" means 1024 KB (the page says so, and Lambda's error reads "Unzipped size must
be smaller than 262144000 bytes"):
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

QUOTAS_URL = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"

# "Deployment package (.zip file archive) size: 50 MB (zipped, for direct upload)", kept
# strictly below; larger archives go through S3 (LayerVersionContentInput S3Bucket/S3Key,
# https://docs.aws.amazon.com/lambda/latest/api/API_LayerVersionContentInput.html).
DIRECT_UPLOAD_MAX_BYTES = 50 * 1024 * 1024
# "250 MB (unzipped, including layers)": a function's code plus all its layers, extracted.
UNZIPPED_MAX_BYTES = 250 * 1024 * 1024
# "Function layers: five layers".
LAYERS_PER_FUNCTION_MAX = 5

# The Powertools layer is AWS's, so its size cannot be read from a local build. Measured
# on 2026-11-27: `pip install --target T --only-binary=:all: --platform manylinux_2_28_aarch64
# --platform manylinux2014_aarch64 --implementation cp --python-version 3.13
# "aws-lambda-powertools[all]==3.37.0"`, sum of the file sizes under T without `bin/`.
# It counts boto3 and botocore (pulled in by aws-encryption-sdk), so it is an upper bound
# for the published AWSLambdaPowertoolsPythonV3-python313-arm64 layer. A test ties it to the
# locked Powertools version: re-measure when that changes.
POWERTOOLS_MEASURED_VERSION = "3.37.0"
POWERTOOLS_LAYER_UNZIPPED_BYTES = 52_829_535


def unzipped_bytes(files: Iterable[Path]) -> int:
    """What Lambda extracts: the sum of the files' sizes."""
    return sum(p.stat().st_size for p in files)


def tree_bytes(root: Path) -> int:
    return unzipped_bytes(p for p in root.rglob("*") if p.is_file())
