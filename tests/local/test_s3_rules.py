"""local/s3_rules.py: what S3 refuses and moto stores, refused on the SDK's side."""

import boto3
import pytest
from botocore.exceptions import ClientError

from functions.common import aws


def test_a_kms_key_without_the_kms_algorithm_is_refused_as_s3_refuses_it(aws_env):
    s3 = aws.client("s3")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="serenya-test-temp", Key="k", Body=b"x", SSEKMSKeyId=aws_env["data_key"])
    assert e.value.response["Error"]["Code"] == "InvalidArgument"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "Contents" not in boto3.client("s3", region_name="eu-west-1").list_objects_v2(Bucket="serenya-test-temp")
    with pytest.raises(ClientError):
        s3.put_object(Bucket="serenya-test-temp", Key="k", Body=b"x", SSEKMSKeyId=aws_env["data_key"],
                      ServerSideEncryption="AES256")


@pytest.mark.parametrize("extra", [{}, {"ServerSideEncryption": "aws:kms"}, {"ServerSideEncryption": "AES256"}])
def test_writes_s3_accepts_still_land(aws_env, extra):
    key = aws_env["data_key"] if extra.get("ServerSideEncryption") == "aws:kms" else None
    aws.client("s3").put_object(Bucket="serenya-test-temp", Key="k", Body=b"x", **extra,
                                **({"SSEKMSKeyId": key} if key else {}))
    assert aws.client("s3").get_object(Bucket="serenya-test-temp", Key="k")["Body"].read() == b"x"
