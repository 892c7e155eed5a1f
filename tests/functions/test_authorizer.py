"""The token authorizer: a policy valid for the whole API under caching, nothing else."""

import pytest

from functions.authorizer.handler import api_resource, handler
from functions.common import tokens, users
from functions.common.clock import now_iso
from functions.common.oauth import Identity
from local.gateway import policy_allows
from tests.conftest import FakeContext

API = "arn:aws:execute-api:eu-west-1:123456789012:abc123/v1"


def event(token, method="GET", path="/api/v1/user/profile"):
    return {"type": "TOKEN", "authorizationToken": token, "methodArn": f"{API}/{method}{path}"}


@pytest.fixture
def user(aws_env):
    identity = Identity("google", "g-auth", None, False, None, None, None)
    account = users.new_account(identity, None, None, {}, {}, {}, now_iso())
    users.create(account, identity)
    return account.user_id


def test_valid_token_allows_every_route_of_the_stage(user):
    answer = handler(event(f"Bearer {tokens.issue(user, 's-1').token}"), FakeContext())
    assert answer["principalId"] == user
    assert answer["context"] == {"user_id": user, "session_id": "s-1"}
    policy = answer["policyDocument"]
    # API Gateway reuses this answer for the same token on any route for 5 minutes.
    for method, path in [("GET", "/api/v1/user/profile"), ("POST", "/api/v1/process/upload"),
                         ("DELETE", "/api/v1/process/cleanup/result_x")]:
        assert policy_allows(policy, f"{API}/{method}{path}")
    assert not policy_allows(policy, "arn:aws:execute-api:eu-west-1:123456789012:other/v1/GET/api/v1/user/profile")
    assert not policy_allows(policy, f"{API.replace('/v1', '/v2')}/GET/api/v1/user/profile")


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
def test_the_scheme_name_is_case_insensitive(user, scheme):
    """RFC 9110, 11.1; API Gateway's identity validation expression lets them through too."""
    import re

    from components.openapi import BEARER_PATTERN

    header = f"{scheme} {tokens.issue(user, 's-1').token}"
    assert re.fullmatch(BEARER_PATTERN, header)
    assert handler(event(header), FakeContext())["principalId"] == user


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer ", "Basic abc", "bearer x.y.z", "Bearer not-a-jwt"])
def test_malformed_headers_are_unauthorized(aws_env, header):
    with pytest.raises(Exception, match="^Unauthorized$"):
        handler(event(header), FakeContext())


def test_a_deleted_accounts_token_is_unauthorized(user):
    token = tokens.issue(user, "s-1").token
    users.delete(users.get(user))
    with pytest.raises(Exception, match="^Unauthorized$"):
        handler(event(f"Bearer {token}"), FakeContext())


def test_api_resource_rejects_unexpected_arns():
    assert api_resource(f"{API}/GET/api/v1/x") == f"{API}/*/api/v1/*"
    with pytest.raises(ValueError):
        api_resource("arn:aws:lambda:eu-west-1:1:function:x")


# -- its alarms: refused tokens are errors to Lambda, never pages ------------------------

def evaluate(expression: str, values: dict) -> "float | None":
    """CloudWatch metric math for one period, for the operators the alarms use: + - * /,
    FILL(m, v) and MAX([a, b]). A metric without data is None, and so is any arithmetic on
    it, as in CloudWatch; FILL turns it into v
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html)."""
    import re

    class Value:
        def __init__(self, v):
            self.v = v

        def _op(self, other, f):
            o = other.v if isinstance(other, Value) else other
            return Value(None if self.v is None or o is None else f(self.v, o))

        __add__ = lambda s, o: s._op(o, lambda a, b: a + b)
        __sub__ = lambda s, o: s._op(o, lambda a, b: a - b)
        __mul__ = lambda s, o: s._op(o, lambda a, b: a * b)
        __truediv__ = lambda s, o: s._op(o, lambda a, b: a / b)
        __radd__, __rmul__ = __add__, __mul__
        __rsub__ = lambda s, o: Value(None if s.v is None else o - s.v)

    def fill(series, default):
        return Value(default if series.v is None else series.v)

    def maximum(items):
        known = [i.v if isinstance(i, Value) else i for i in items]
        known = [k for k in known if k is not None]
        return Value(max(known) if known else None)

    python = re.sub(r"\bFILL\(", "fill(", expression).replace("MAX(", "maximum(")
    assert re.fullmatch(r"[\w\s().,\[\]+\-*/]*", python), expression
    result = eval(python, {"__builtins__": {}}, {"fill": fill, "maximum": maximum,  # noqa: S307 - our own text
                                                 **{k: Value(v) for k, v in values.items()}})
    return result.v if isinstance(result, Value) else result


def test_the_evaluator_follows_cloudwatch_on_missing_data():
    assert evaluate("errors - FILL(rejections, 0)", {"errors": 12, "rejections": None}) == 12
    assert evaluate("errors - rejections", {"errors": 12, "rejections": None}) is None
    assert evaluate("100 * errors / MAX([invocations, 1])", {"errors": 1, "invocations": 0}) == 100


class CloudWatch:
    """What CloudWatch would hold for one 5-minute period after some authorizer invocations:
    AWS/Lambda Errors and Invocations as Lambda counts them, and the EMF records the code
    printed, extracted as CloudWatch Logs does (one datapoint per record and dimension set)."""

    def __init__(self):
        self.data: dict[tuple, float] = {}

    def add(self, namespace: str, name: str, dimensions: dict, value: float) -> None:
        key = (namespace, name, frozenset(dimensions.items()))
        self.data[key] = self.data.get(key, 0) + value

    def extract_emf(self, stdout: str) -> None:
        import json

        for line in stdout.splitlines():
            record = json.loads(line) if line.startswith("{") else {}
            for directive in record.get("_aws", {}).get("CloudWatchMetrics", []):
                for dimension_set in directive["Dimensions"]:
                    for metric in directive["Metrics"]:
                        value = record[metric["Name"]]  # a number, or a list of samples
                        self.add(directive["Namespace"], metric["Name"], {d: record[d] for d in dimension_set},
                                 sum(value) if isinstance(value, list) else value)

    def value(self, query: dict) -> "float | None":
        m = query["metric"]
        assert (m["stat"], m["period"]) == ("Sum", 300)
        return self.data.get((m["namespace"], m["metricName"], frozenset(m["dimensions"].items())))


def alarm(run, name):
    return next(a.inputs for a in run.mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
                if a.inputs["name"] == name)


def deployed_authorizer(run):
    return next(f.inputs for f in run.mocks.of_type("aws:lambda/function:Function")
                if f.inputs["name"] == f"serenya-{run.settings.env}-authorizer")


def breaches(alarm_inputs, cloudwatch) -> bool:
    queries = alarm_inputs["metricQueries"]
    result = next(q for q in queries if q.get("returnData"))
    values = {q["id"]: cloudwatch.value(q) for q in queries if "metric" in q}
    value = evaluate(result["expression"], values)
    return value is not None and value > alarm_inputs["threshold"]


@pytest.mark.parametrize("refused, failed, pages", [
    (0, 0, False), (300, 0, False), (0, 11, True), (300, 11, True), (300, 10, False)])
def test_the_authorizers_errors_alarm_pages_on_its_failures_never_on_refused_tokens(
        user, prod_run, capsys, monkeypatch, refused, failed, pages):
    """The deployed authorizer's environment, its real code and the rendered alarm: the
    custom metric in the expression is exactly the stream the code emits."""
    from botocore.exceptions import ClientError

    from functions.common import observability

    deployed = deployed_authorizer(prod_run)
    env = deployed["environment"]["variables"]
    monkeypatch.setattr(observability, "NAMESPACE", env["POWERTOOLS_METRICS_NAMESPACE"])
    monkeypatch.setattr(observability, "SERVICE", env["POWERTOOLS_SERVICE_NAME"])
    monkeypatch.setenv("SERENYA_ENV", env["SERENYA_ENV"])
    context = FakeContext()
    context.function_name = deployed["name"]
    cloudwatch, lambda_dims = CloudWatch(), {"FunctionName": deployed["name"]}
    good = f"Bearer {tokens.issue(user, 's-1').token}"
    capsys.readouterr()

    def invoke(header):
        cloudwatch.add("AWS/Lambda", "Invocations", lambda_dims, 1)
        try:
            handler(event(header), context)
        except Exception:  # Lambda counts every raise, Unauthorized included, as an error
            cloudwatch.add("AWS/Lambda", "Errors", lambda_dims, 1)

    for i in range(refused):
        invoke(["", "Basic x", "Bearer not-a-jwt"][i % 3])
    # A real failure: the account table is unavailable (the SDK's retries exhausted).
    throttled = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}}, "GetItem")
    with monkeypatch.context() as m:
        m.setattr(users, "exists", lambda *_: (_ for _ in ()).throw(throttled))
        for _ in range(failed):
            invoke(good)
    invoke(good)  # and one that works
    cloudwatch.extract_emf(capsys.readouterr().out)

    errors = alarm(prod_run, "serenya-prod-authorizer-errors")
    assert errors["tags"]["severity"] == "critical"
    assert breaches(errors, cloudwatch) is pages
    rejections = next(q for q in errors["metricQueries"] if q.get("metric", {}).get("namespace") == "Serenya")
    assert cloudwatch.value(rejections) == (refused or None)  # the very stream the code emitted
    rate = alarm(prod_run, "serenya-prod-authorizer-error-rate")
    assert breaches(rate, cloudwatch) is (failed > 0)  # 5% of the invocations that were not refusals


def test_a_token_in_another_spelling_is_unauthorized_like_any_invalid_token(user):
    """Each spelling would be its own entry in API Gateway's authorizer cache (keyed on
    the header's text) and slip past a revocation keyed on the token: one spelling only."""
    from tests.functions.test_tokens import spellings

    token = tokens.issue(user, "s-1").token
    assert handler(event(f"Bearer {token}"), FakeContext())["principalId"] == user
    refusals = []
    for variant, other in spellings(token).items():
        with pytest.raises(Exception) as refused:
            handler(event(f"Bearer {other}"), FakeContext())
        refusals.append((type(refused.value).__name__, str(refused.value)))
    with pytest.raises(Exception) as garbage:
        handler(event("Bearer not-a-jwt"), FakeContext())
    assert set(refusals) == {(type(garbage.value).__name__, "Unauthorized")}
