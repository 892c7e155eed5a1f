"""API Gateway's own proxy events (tests/fixtures/real_events: aws-lambda-go's and
Powertools' samples of what a REST API sends a Lambda proxy integration) fed to a real
API handler: only the route and the authorizer's context are ours, every other key and
header is the sample's, so a handler that leans on a key the local gateway makes up (or
misses one API Gateway sends) fails here.
https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-input-format"""

import copy
import json

import boto3
import pytest

from tests.conftest import FakeContext
from tests.fixtures.real_samples import real_json

USER = "5f0c1a52-0d3c-4c1e-9a55-3c1f3c6f0a11"
SAMPLES = {
    "aws-lambda-go": lambda: real_json("aws-lambda-go/apigw-request.json"),
    "powertools": lambda: real_json("powertools/apiGatewayProxyEvent.json"),
}


def routed(sample: dict, method: str, path: str, authorizer: dict | None) -> dict:
    """The sample sent to `method path`: API Gateway's route keys set, the rest as sent."""
    event = copy.deepcopy(sample)
    event.update(resource=path, path=path, httpMethod=method, pathParameters=None)
    event["requestContext"].update(resourcePath=path, httpMethod=method, path=f"/prod{path}")
    if authorizer is None:
        event["requestContext"].pop("authorizer", None)
    else:  # a Lambda authorizer's context, as API Gateway passes it: strings, with principalId
        event["requestContext"]["authorizer"] = {"principalId": authorizer["user_id"], **authorizer}
    return event


@pytest.mark.parametrize("source", sorted(SAMPLES))
def test_a_real_proxy_event_gets_the_chat_prompts(aws_env, source):
    from functions.chat_prompts import handler

    boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test").put_item(
        Item={"PK": f"USER#{USER}", "SK": "PROFILE", "user_id": USER})
    event = routed(SAMPLES[source](), "GET", "/api/v1/chat/prompts", {"user_id": USER, "session_id": "s1"})
    answer = handler.handler(event, FakeContext())
    assert answer["statusCode"] == 200, answer["body"]
    body = json.loads(answer["body"])
    assert body["prompts"] and body["version"]
    assert answer["multiValueHeaders"]["Content-Type"] == ["application/json"]


@pytest.mark.parametrize("source", sorted(SAMPLES))
def test_a_real_proxy_event_without_the_authorizers_context_is_401(aws_env, source):
    """The samples' own authorizer blocks (a Cognito one, a custom one without our keys) name no user."""
    from functions.chat_prompts import handler

    sample = SAMPLES[source]()
    event = routed(sample, "GET", "/api/v1/chat/prompts", None)
    event["requestContext"]["authorizer"] = sample["requestContext"].get("authorizer")
    answer = handler.handler(event, FakeContext())
    assert answer["statusCode"] == 401 and json.loads(answer["body"])["error"]["code"] == "unauthorized"
