"""DynamoDB's use of the table's key, as the call recorder models it (local/aws_calls.py):
DynamoDB decrypts the table key with the caller's permissions, through DynamoDB and with
the table's encryption context, for the table's items and for its stream's records.
Evaluated against the roles components/iam.py generates, and against a role without the
statement (the program before issue 23), which AWS would refuse.
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/encryption.howitworks.html
(the Decrypt event of "Monitoring DynamoDB interaction with AWS KMS": the user is "the
principal in your AWS account who is accessing the table")"""

import pytest

from components import iam
from functions.catalog import by_name
from local.aws_calls import Call, Facts, Requirements
from local.iam_eval import default_key_policy, kms_allowed

ACCOUNT = "123456789012"
TABLE = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/serenya-dev"
STREAM = f"{TABLE}/stream/2026-12-01T00:00:00.000"
KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/data"
ARNS = iam.StackArns(region="eu-west-1", account_id=ACCOUNT, log_group="lg", table=TABLE, table_stream=STREAM,
                     temp_bucket="arn:aws:s3:::t", events_bucket="arn:aws:s3:::e", data_key=KEY, signing_key="s",
                     secret="sec", bedrock_model_id="eu.anthropic.claude-haiku-4-5-20251001-v1:0")
FACTS = Facts(account_id=ACCOUNT, table_keys={"serenya-dev": KEY})


def kms_requests(service: str, operation: str, params: dict, response: dict | None = None, facts=FACTS):
    requirements = Requirements(facts)
    if operation == "GetRecords":  # an iterator is first obtained for the stream
        requirements.required(Call("stream_processor", "dynamodbstreams", "GetShardIterator",
                                   {"StreamArn": STREAM}, 200, {"ShardIterator": "it-1"}, "eu-west-1"))
    call = Call("fn", service, operation, params, 200, response or {}, "eu-west-1")
    return [r for r in requirements.required(call) if r.action.startswith("kms:")]


@pytest.mark.parametrize("operation, params", [
    ("GetItem", {"TableName": "serenya-dev", "Key": {"PK": {"S": "USER#1"}, "SK": {"S": "PROFILE"}}}),
    ("PutItem", {"TableName": "serenya-dev", "Item": {"PK": {"S": "USER#1"}, "SK": {"S": "PROFILE"}}}),
    ("Query", {"TableName": "serenya-dev", "IndexName": "GSI1"}),
    ("BatchWriteItem", {"RequestItems": {"serenya-dev": []}}),
    ("TransactWriteItems", {"TransactItems": [{"Put": {"TableName": "serenya-dev"}},
                                              {"Update": {"TableName": TABLE}}]}),
])
def test_every_item_call_needs_the_table_key_through_dynamodb_as_the_caller(operation, params):
    (request,) = kms_requests("dynamodb", operation, params)  # once per table, even in a transaction
    assert (request.action, request.resource) == ("kms:Decrypt", KEY)
    assert request.context["kms:ViaService"] == "dynamodb.eu-west-1.amazonaws.com"
    assert request.context["kms:EncryptionContext:aws:dynamodb:tableName"] == "serenya-dev"
    assert request.context["kms:EncryptionContext:aws:dynamodb:subscriberId"] == ACCOUNT
    assert request.context["kms:EncryptionContextKeys"] == ["aws:dynamodb:subscriberId", "aws:dynamodb:tableName"]


def test_reading_the_stream_needs_the_tables_key_and_context():
    (request,) = kms_requests("dynamodbstreams", "GetRecords", {"ShardIterator": "it-1"}, {"Records": []})
    assert request.resource == KEY
    assert request.context["kms:EncryptionContext:aws:dynamodb:tableName"] == "serenya-dev"


def test_metadata_and_tables_under_an_aws_owned_key_need_no_key_permission():
    assert kms_requests("dynamodb", "DescribeTable", {"TableName": "serenya-dev"}) == []
    assert kms_requests("dynamodb", "GetItem", {"TableName": "serenya-dev", "Key": {}}, facts=Facts(ACCOUNT)) == []


def decide(function: str, request, statements_without: str = "") -> bool:
    policy = iam.policy_document(by_name()[function], ARNS)
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != statements_without]
    principal = f"arn:aws:iam::{ACCOUNT}:role/serenya-dev-{function}"
    request = type(request)(request.action, request.resource, request.context, principal)
    return bool(kms_allowed(default_key_policy(ACCOUNT), [policy], request))


@pytest.mark.parametrize("function", ["auth", "authorizer", "chat_prompts", "user_profile", "process", "subscriptions"])
def test_the_roles_may_and_without_the_statement_would_be_refused(function):
    (request,) = kms_requests("dynamodb", "GetItem", {"TableName": "serenya-dev",
                                                      "Key": {"PK": {"S": "USER#1"}, "SK": {"S": "PROFILE"}}})
    assert decide(function, request)
    assert not decide(function, request, statements_without="UseTableKeyThroughDynamoDB")


def test_the_stream_poller_may_read_the_stream_and_nothing_else_of_the_key():
    (request,) = kms_requests("dynamodbstreams", "GetRecords", {"ShardIterator": "it-1"}, {"Records": []})
    assert decide("stream_processor", request)
    assert not decide("stream_processor", request, statements_without="UseTableKeyThroughDynamoDB")
    other_table = type(request)(request.action, request.resource,
                                {**request.context, "kms:EncryptionContext:aws:dynamodb:tableName": "serenya-prod"})
    assert not decide("stream_processor", other_table)
