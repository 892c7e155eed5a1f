"""Bedrock's authorization of a Converse call, as the call recorder derives it
(local/aws_calls.py) independently of components/iam.py, evaluated against the process
role: through the configured profile only.
https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-prereq.html"""

import pytest

from components import iam
from functions.catalog import by_name
from local.aws_calls import Call, Facts, Requirements
from local.iam_eval import evaluate

ACCOUNT = "123456789012"
PROFILE = "eu.anthropic.claude-haiku-4-5-20251001-v1:0"


def policy(model: str = PROFILE) -> dict:
    arns = iam.StackArns(region="eu-west-1", account_id=ACCOUNT, log_group="lg",
                         table=f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/serenya-dev", table_stream="s",
                         temp_bucket="arn:aws:s3:::t", events_bucket="arn:aws:s3:::e", data_key="k",
                         signing_key="s", secret="x", bedrock_model_id=model)
    return iam.policy_document(by_name()["process"], arns)


def requests(model: str, region: str = "eu-west-1"):
    call = Call("process", "bedrock-runtime", "Converse", {"modelId": model}, 200, {}, region)
    return Requirements(Facts(account_id=ACCOUNT)).required(call)


def test_a_call_through_the_profile_needs_the_profile_and_the_model_behind_it():
    profile, model = requests(PROFILE)
    assert profile.resource == f"arn:aws:bedrock:eu-west-1:{ACCOUNT}:inference-profile/{PROFILE}"
    assert model.context == {"bedrock:InferenceProfileArn": profile.resource}
    assert all(evaluate(policy(), r) for r in (profile, model))


@pytest.mark.parametrize("model, region", [
    ("anthropic.claude-haiku-4-5-20251001-v1:0", "eu-west-1"),   # the model directly, skipping the profile
    ("us.anthropic.claude-haiku-4-5-20251001-v1:0", "us-east-1"),  # another geography's profile
    ("global.anthropic.claude-haiku-4-5-20251001-v1:0", "eu-west-1"),
])
def test_anything_but_the_configured_profile_is_refused(model, region):
    assert not all(evaluate(policy(), r) for r in requests(model, region))
