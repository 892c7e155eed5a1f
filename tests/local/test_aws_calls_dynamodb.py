"""The IAM condition keys of DynamoDB item calls (local/aws_calls.py), evaluated against
the process role's usage-record statement: only new USAGE# items, only the record's
attributes, nothing returned.
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html"""

import pytest

from components import iam
from functions.catalog import by_name
from functions.common import usage
from local.aws_calls import Call, Facts, Requirements
from local.iam_eval import evaluate

TABLE = "arn:aws:dynamodb:eu-west-1:123456789012:table/serenya-dev"
U = "11111111-1111-1111-1111-111111111111"


def process_policy() -> dict:
    arns = iam.StackArns(region="eu-west-1", account_id="123456789012", log_group="lg", table=TABLE,
                         table_stream=f"{TABLE}/stream/x", temp_bucket="arn:aws:s3:::t", events_bucket="arn:aws:s3:::e",
                         data_key="arn:aws:kms:eu-west-1:123456789012:key/d", signing_key="s", secret="sec",
                         bedrock_model_id="eu.anthropic.claude-haiku-4-5-20251001-v1:0")
    return iam.policy_document(by_name()["process"], arns)


def decide(operation: str, params: dict):
    call = Call("process", "dynamodb", operation, {"TableName": "serenya-dev", **params}, 200, {}, "eu-west-1")
    (request,) = Requirements(Facts(account_id="123456789012")).required(call)
    return evaluate(process_policy(), request)


def test_the_usage_record_as_process_writes_it_is_allowed():
    item = usage.record(U, "result_x", "result", {"status": "completed"}, usage.ModelUse("m", 5, 10, 2))
    decision = decide("PutItem", {"Item": item})
    assert decision and decision.allowed_by == ("WriteUsageRecords",)


@pytest.mark.parametrize("operation, params", [
    ("PutItem", {"Item": {"PK": f"USER#{U}", "SK": "PROFILE"}}),                        # a profile
    ("PutItem", {"Item": {"PK": f"USAGE#{U}", "SK": "JOB#x", "question": "..."}}),      # an attribute of its own
    ("PutItem", {"Item": {"PK": f"USAGE#{U}", "SK": "JOB#x"}, "ReturnValues": "ALL_OLD"}),
    ("UpdateItem", {"Key": {"PK": f"USAGE#{U}", "SK": "JOB#x"}}),
    ("DeleteItem", {"Key": {"PK": f"USAGE#{U}", "SK": "JOB#x"}}),
    ("GetItem", {"Key": {"PK": f"USAGE#{U}", "SK": "JOB#x"}}),                          # the check reads USER# only
])
def test_anything_else_is_refused(operation, params):
    assert not decide(operation, params)


def test_the_account_check_stays_allowed_with_its_leading_key():
    assert decide("GetItem", {"Key": {"PK": f"USER#{U}", "SK": "PROFILE"}, "ProjectionExpression": "PK"})
