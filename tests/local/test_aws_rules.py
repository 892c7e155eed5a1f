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


def test_a_cancelled_transaction_leaves_the_stream_where_it_was(aws_env):
    """DynamoDB Streams holds only modifications that happened, in order, on the shard its
    readers already hold (Streams.html); moto's rollback swapped the shard for a copy and
    silenced every open iterator for good (the audit processor after a refused quota)."""
    ddb = aws.client("dynamodb")
    ddb.create_table(TableName="streamed", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    # botocore's account-based stream endpoint is one moto's in-process router does not know
    streams = boto3.client("dynamodbstreams", region_name="eu-west-1",
                           endpoint_url="https://streams.dynamodb.eu-west-1.amazonaws.com")
    arn = ddb.describe_table(TableName="streamed")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    ddb.put_item(TableName="streamed", Item={"PK": {"S": "a"}})
    # the first write lands in moto before the second's condition fails
    error = refusal(lambda: ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": "streamed", "Item": {"PK": {"S": "b"}}}},
        {"Put": {"TableName": "streamed", "Item": {"PK": {"S": "a"}},
                 "ConditionExpression": "attribute_not_exists(PK)"}},
    ]))
    assert error["Error"]["Code"] == "TransactionCanceledException"
    ddb.put_item(TableName="streamed", Item={"PK": {"S": "c"}})
    reply = streams.get_records(ShardIterator=iterator)
    written = [(r["eventName"], r["dynamodb"]["Keys"]["PK"]["S"]) for r in reply["Records"]]
    assert written == [("INSERT", "a"), ("INSERT", "c")]
    sequence = [int(r["dynamodb"]["SequenceNumber"]) for r in reply["Records"]]
    assert sequence == sorted(sequence) and len(set(sequence)) == 2
    ddb.put_item(TableName="streamed", Item={"PK": {"S": "d"}})
    later = streams.get_records(ShardIterator=reply["NextShardIterator"])["Records"]
    assert [r["dynamodb"]["Keys"]["PK"]["S"] for r in later] == ["d"]
    assert "b" not in {i["PK"]["S"] for i in ddb.scan(TableName="streamed")["Items"]}


def test_a_transaction_retried_with_its_client_token_is_applied_once(aws_env):
    """botocore resends a TransactWriteItems whose answer came too late with the same
    ClientRequestToken; DynamoDB answers it as the first call and writes nothing again
    (API_TransactWriteItems.html: ClientRequestToken). moto applied it twice: a quota
    counter went up by two for one request on a loaded machine."""
    ddb = aws.client("dynamodb")
    count = {"Update": {"TableName": "serenya-test", "Key": {"PK": {"S": "COUNT#1"}, "SK": {"S": "hour#0"}},
                        "UpdateExpression": "ADD #n :one SET #k = :key", "ExpressionAttributeNames": {"#n": "n", "#k": "k"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":key": {"B": b"\x9c\xd9 binary"}}}}
    for _ in range(3):  # the call and two retries of it
        ddb.transact_write_items(TransactItems=[count], ClientRequestToken="token-1")
    stored = ddb.get_item(TableName="serenya-test", Key=count["Update"]["Key"], ConsistentRead=True)["Item"]
    assert stored["n"] == {"N": "1"}
    ddb.transact_write_items(TransactItems=[count], ClientRequestToken="token-2")  # a new call
    ddb.transact_write_items(TransactItems=[count])  # botocore's own token, new each call
    stored = ddb.get_item(TableName="serenya-test", Key=count["Update"]["Key"], ConsistentRead=True)["Item"]
    assert stored["n"] == {"N": "3"}
    other = {"Update": {**count["Update"], "Key": {"PK": {"S": "COUNT#2"}, "SK": {"S": "hour#0"}}}}
    error = refusal(lambda: ddb.transact_write_items(TransactItems=[other], ClientRequestToken="token-1"))
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
        "IdempotentParameterMismatchException", 400)
    assert "Item" not in ddb.get_item(TableName="serenya-test", Key=other["Update"]["Key"])
