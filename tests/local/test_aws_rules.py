"""local/aws_rules.py: what AWS refuses and moto accepts, refused on the SDK's side."""

import boto3
import pytest
from botocore.exceptions import ClientError

from functions.common import aws


def refusal(call) -> dict:
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response


def test_a_kms_key_without_the_kms_algorithm_is_refused_as_s3_refuses_it(aws_env):
    s3 = aws.client("s3")
    error = refusal(lambda: s3.put_object(Bucket="serenya-test-temp", Key="k", Body=b"x",
                                          SSEKMSKeyId=aws_env["data_key"]))
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("InvalidArgument", 400)
    assert "x-amz-server-side-encryption : aws:kms" in error["Error"]["Message"]
    assert "Contents" not in boto3.client("s3", region_name="eu-west-1").list_objects_v2(Bucket="serenya-test-temp")
    refusal(lambda: s3.put_object(Bucket="serenya-test-temp", Key="k", Body=b"x", SSEKMSKeyId=aws_env["data_key"],
                                  ServerSideEncryption="AES256"))


@pytest.mark.parametrize("extra", [{}, {"ServerSideEncryption": "aws:kms"}, {"ServerSideEncryption": "AES256"}])
def test_writes_s3_accepts_still_land(aws_env, extra):
    key = aws_env["data_key"] if extra.get("ServerSideEncryption") == "aws:kms" else None
    aws.client("s3").put_object(Bucket="serenya-test-temp", Key="k", Body=b"x", **extra,
                                **({"SSEKMSKeyId": key} if key else {}))
    assert aws.client("s3").get_object(Bucket="serenya-test-temp", Key="k")["Body"].read() == b"x"


def test_a_value_outside_an_enumeration_is_refused_as_the_service_refuses_it(aws_env):
    kms = aws.client("kms")
    error = refusal(lambda: kms.sign(KeyId=aws_env["signing_key"], Message=b"m", MessageType="raw",
                                     SigningAlgorithm="ECDSA_SHA_256"))
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("ValidationException", 400)
    assert error["Error"]["Message"] == ("1 validation error detected: Value 'raw' at 'messageType' failed to satisfy "
                                         "constraint: Member must satisfy enum value set: [DIGEST, EXTERNAL_MU, RAW]")
    # nested members and lists are checked too
    table = aws.client("dynamodb")
    error = refusal(lambda: table.query(TableName="serenya-test", KeyConditionExpression="PK = :p",
                                        ExpressionAttributeValues={":p": {"S": "x"}}, Select="everything"))
    assert "at 'select'" in error["Error"]["Message"]
    error = refusal(lambda: aws.client("s3").put_object(Bucket="serenya-test-temp", Key="k", Body=b"x",
                                                        ServerSideEncryption="aws:KMS"))
    assert error["Error"]["Code"] == "InvalidArgument"
    assert kms.sign(KeyId=aws_env["signing_key"], Message=b"m", MessageType="RAW",
                    SigningAlgorithm="ECDSA_SHA_256")["Signature"]
