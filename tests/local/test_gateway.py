"""The API Gateway emulator: routing, authorizer, proxy events, error format."""

import json

import pytest

from functions.catalog import by_name
from local.gateway import Gateway, Router, policy_allows
from local.runtime import LocalLambda
from tests.conftest import SAMPLE_CATALOG

ARN = "arn:aws:execute-api:eu-west-1:123456789012:local/local"


def allow_all_of_user(user_id):
    return {"principalId": user_id, "context": {"user_id": user_id},
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": f"{ARN}/*/api/v1/*"}]}}


class Recorder:
    """Handlers for the sample catalog that record what they receive."""

    def __init__(self):
        self.events = {"authorizer": [], "echo": []}
        self.echo_reply = None

    def authorizer(self, event, context):
        self.events["authorizer"].append(event)
        token = event["authorizationToken"]
        if token == "Bearer good":
            return allow_all_of_user("user-1")
        if token == "Bearer narrow":
            policy = allow_all_of_user("user-2")
            policy["policyDocument"]["Statement"].append(
                {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": f"{ARN}/POST/*"})
            return policy
        raise Exception("Unauthorized")

    def echo(self, event, context):
        self.events["echo"].append(event)
        if self.echo_reply is not None:
            return self.echo_reply
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"function": context.function_name})}

    def resolve(self, fn):
        return getattr(self, fn.name)


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def gateway(recorder):
    functions = LocalLambda(by_name(SAMPLE_CATALOG), {"echo": "serenya-dev-echo"}, "eu-west-1",
                            "123456789012", recorder.resolve)
    return Gateway(SAMPLE_CATALOG, functions, "eu-west-1", "123456789012")


def call(gateway, method, path, token=None, body=b"", query=None):
    headers = {"Authorization": token} if token else {}
    response = gateway.handle(method, path, query or {}, headers, body)
    return response.status, json.loads(response.body or b"null"), response


def test_router_matches_templates_and_reports_allowed_methods():
    router = Router(SAMPLE_CATALOG)
    route, params, _ = router.match("GET", "/api/v1/echo/abc")
    assert route.fn.name == "echo" and params == {"item_id": "abc"}
    route, _, allowed = router.match("DELETE", "/api/v1/echo/abc")
    assert route is None and sorted(allowed) == ["GET", "POST"]
    assert router.match("GET", "/api/v1/echo/a/b")[0] is None


def test_unknown_route_is_404_and_wrong_method_405(gateway):
    status, body, _ = call(gateway, "GET", "/api/v1/nope")
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, body, response = call(gateway, "DELETE", "/api/v1/echo/1", token="Bearer good")
    assert (status, body["error"]["code"]) == (405, "method_not_allowed")
    assert response.headers["Allow"] == "GET, POST"
    assert body["error"]["request_id"]


def test_missing_or_bad_token_never_reaches_the_function(gateway, recorder):
    assert call(gateway, "GET", "/api/v1/echo/1")[0] == 401
    status, body, _ = call(gateway, "GET", "/api/v1/echo/1", token="Bearer forged")
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    assert recorder.events["echo"] == []


def test_policy_deny_is_403(gateway, recorder):
    assert call(gateway, "GET", "/api/v1/echo/1", token="Bearer narrow")[0] == 200
    status, body, _ = call(gateway, "POST", "/api/v1/echo/1", token="Bearer narrow")
    assert (status, body["error"]["code"]) == (403, "forbidden")
    assert len(recorder.events["echo"]) == 1


def test_authorizer_answer_is_cached_per_token(gateway, recorder):
    for _ in range(3):
        call(gateway, "GET", "/api/v1/echo/1", token="Bearer good")
    call(gateway, "POST", "/api/v1/echo/2", token="Bearer good")
    assert len(recorder.events["authorizer"]) == 1
    assert recorder.events["authorizer"][0] == {
        "type": "TOKEN", "authorizationToken": "Bearer good", "methodArn": f"{ARN}/GET/api/v1/echo/1"}


def test_public_route_skips_the_authorizer(gateway, recorder):
    assert call(gateway, "GET", "/api/v1/public")[0] == 200
    assert recorder.events["authorizer"] == []


def test_proxy_event_carries_route_parameters_and_authorizer_context(gateway, recorder):
    status, body, _ = call(gateway, "POST", "/api/v1/echo/42", token="Bearer good",
                           body=b'{"a": 1}', query={"x": ["1", "2"]})
    assert status == 200 and body == {"function": "serenya-dev-echo"}
    event = recorder.events["echo"][0]
    assert event["resource"] == "/api/v1/echo/{item_id}" and event["path"] == "/api/v1/echo/42"
    assert event["pathParameters"] == {"item_id": "42"} and event["body"] == '{"a": 1}'
    assert event["queryStringParameters"] == {"x": "2"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["requestContext"]["authorizer"]["user_id"] == "user-1"
    assert event["requestContext"]["requestId"]


def test_binary_body_is_base64(gateway, recorder):
    call(gateway, "POST", "/api/v1/echo/1", token="Bearer good", body=b"\xff\xfe")
    event = recorder.events["echo"][0]
    assert event["isBase64Encoded"] is True and event["body"] == "//4="


def test_oversized_body_is_413(gateway, recorder):
    status, body, _ = call(gateway, "POST", "/api/v1/echo/1", token="Bearer good", body=b"x" * (10 * 1024 * 1024 + 1))
    assert (status, body["error"]["code"]) == (413, "payload_too_large")
    assert recorder.events["echo"] == []


@pytest.mark.parametrize("reply", [None, {"body": "no status"}, {"statusCode": "200"}])
def test_malformed_function_reply_is_502(gateway, recorder, reply):
    recorder.echo_reply = reply if reply is not None else "plain string"
    status, body, _ = call(gateway, "GET", "/api/v1/public")
    assert (status, body["error"]["code"]) == (502, "bad_gateway")


def test_cors_preflight_goes_to_the_function_without_authorization(gateway, recorder):
    assert call(gateway, "OPTIONS", "/api/v1/echo/1")[0] == 200
    assert recorder.events["authorizer"] == []


@pytest.mark.parametrize("arn, allowed", [
    (f"{ARN}/GET/api/v1/echo/1", True),
    (f"{ARN}/POST/api/v1/echo/1", False),   # explicit deny wins
    ("arn:aws:execute-api:eu-west-1:999999999999:other/local/GET/api/v1/echo/1", False),
])
def test_policy_evaluation(arn, allowed):
    policy = {"Statement": [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [f"{ARN}/*/api/v1/*"]},
        {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": f"{ARN}/POST/*"}]}
    assert policy_allows(policy, arn) is allowed
    assert policy_allows({"Statement": []}, arn) is False


# -- request validation with the document API Gateway receives ---------------------------

class BodyRecorder:
    """The real catalog's functions as recorders: what reaches a function."""

    def __init__(self):
        self.calls = []

    def resolve(self, fn):
        def handler(event, context):
            self.calls.append((fn.name, event["body"]))
            return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}
        return handler


@pytest.fixture
def validating():
    """The gateway with the real catalog and the document for_api_gateway generates (the
    one the program sends to API Gateway), its functions recording what reaches them."""
    from components.openapi import for_api_gateway
    from functions.catalog import CATALOG

    recorder = BodyRecorder()
    arns = {fn.name: f"arn:aws:lambda:eu-west-1:123456789012:function:{fn.name}" for fn in CATALOG}
    document = for_api_gateway(CATALOG, arns, "serenya-test-api", ("https://app.example",))
    functions = LocalLambda(by_name(CATALOG), {}, "eu-west-1", "123456789012", recorder.resolve)
    return Gateway(CATALOG, functions, "eu-west-1", "123456789012", document=document), recorder, document


def onboarding(gateway, body: bytes, content_type="application/json"):
    return gateway.handle("POST", "/api/v1/auth/oauth-onboarding", {}, {"Content-Type": content_type}, body)


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"42", b"not json", b""])
def test_a_body_that_fails_the_reduced_schema_gets_the_gateway_response(validating, body):
    """API Gateway checks a body against its model ({"type": "object"} here) before the
    function runs, and answers with the document's BAD_REQUEST_BODY response."""
    gateway, recorder, document = validating
    response = onboarding(gateway, body)
    expected = document["x-amazon-apigateway-gateway-responses"]["BAD_REQUEST_BODY"]
    error = json.loads(response.body)["error"]
    assert response.status == int(expected["statusCode"]) == 400
    assert json.loads(expected["responseTemplates"]["application/json"])["error"]["code"] == error["code"]
    assert error["request_id"] != "$context.requestId"
    assert recorder.calls == []


def test_an_object_body_reaches_the_function_which_validates_the_rest(validating):
    gateway, recorder, _ = validating
    assert onboarding(gateway, b'{"provider": 1}').status == 200
    assert recorder.calls == [("auth", '{"provider": 1}')]


def test_a_content_type_without_a_model_is_not_validated(validating):
    """"If no matching content type is found, request validation is not performed."""
    gateway, recorder, _ = validating
    assert onboarding(gateway, b"[]", content_type="text/plain").status == 200
    assert onboarding(gateway, b"[]", content_type="application/json; charset=utf-8").status == 400
    assert recorder.calls == [("auth", "[]")]


def test_routes_without_a_body_model_are_not_body_validated(validating):
    gateway, recorder, _ = validating
    response = gateway.handle("POST", "/api/v1/subscriptions/webhook", {}, {"Content-Type": "application/json"},
                              b"[]")
    assert response.status == 200 and recorder.calls == [("subscriptions", "[]")]


def test_an_authorizer_failing_otherwise_than_unauthorized_is_a_500_that_is_not_cached(recorder, gateway):
    """API Gateway answers 401 only for the error "Unauthorized"; any other failure of a
    Lambda authorizer is a 500 (AUTHORIZER_CONFIGURATION_ERROR, DEFAULT_5XX when the
    document does not define it), and only a policy is cached.
    https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html
    https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html"""
    failures = iter([RuntimeError("the table is unavailable"), None])
    answer = recorder.authorizer

    def flaky(event, context):
        failure = next(failures)
        if failure:
            raise failure
        return answer(event, context)

    recorder.authorizer = flaky
    status, body, _ = call(gateway, "GET", "/api/v1/echo/a", token="Bearer good")
    assert (status, body["error"]["code"]) == (500, "internal_error") and recorder.events["echo"] == []
    assert call(gateway, "GET", "/api/v1/echo/a", token="Bearer good")[0] == 200  # asked again, not cached
    recorder.authorizer = lambda event, context: {"principalId": "x"}  # no policy document
    assert call(gateway, "GET", "/api/v1/echo/a", token="Bearer other")[0] == 500


def test_every_answer_is_reported_as_api_gateway_metrics(recorder):
    seen = []

    class Metrics:
        def api_request(self, resource, method, status, latency_ms, integration_ms):
            seen.append((resource, method, status, integration_ms is not None))

    functions = LocalLambda(by_name(SAMPLE_CATALOG), {}, "eu-west-1", "123456789012", recorder.resolve)
    gateway = Gateway(SAMPLE_CATALOG, functions, "eu-west-1", "123456789012", metrics=Metrics())
    call(gateway, "GET", "/api/v1/echo/a", token="Bearer good")
    call(gateway, "GET", "/api/v1/echo/a", token="Bearer bad")
    call(gateway, "GET", "/api/v1/nope")
    assert seen == [("/api/v1/echo/{item_id}", "GET", 200, True), ("/api/v1/echo/{item_id}", "GET", 401, False),
                    (None, "GET", 404, False)]


def test_a_function_failure_gets_the_documents_default_5xx_as_the_deployed_stack_answers(validating):
    """The program's DEFAULT_5XX gateway response turns API Gateway's 502 for a failed
    integration into 500 internal_error, the status the contract lists (review of 26)."""
    from functions.catalog import CATALOG

    gateway, _, document = validating

    def failing(fn):
        def handler(event, context):
            raise RuntimeError("boom")
        return handler

    gateway._functions = LocalLambda(by_name(CATALOG), {}, "eu-west-1", "123456789012", failing)
    response = onboarding(gateway, b'{"provider": "google"}')
    expected = document["x-amazon-apigateway-gateway-responses"]["DEFAULT_5XX"]
    assert response.status == int(expected["statusCode"]) == 500
    assert json.loads(response.body)["error"]["code"] == "internal_error"
