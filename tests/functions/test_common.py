"""Shared runtime code: the contract's error format and function settings."""

import json

import pytest
from pydantic import BaseModel, Field

from functions.common import settings as settings_module
from functions.common.http import ApiError, make_resolver, parse_body
from tests.conftest import FakeContext, api_event


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=20)
    count: int = Field(ge=0)


@pytest.fixture
def app():
    app = make_resolver(cors_origins=("https://app.serenya.health", "http://localhost:3000"))

    @app.post("/api/v1/items")
    def create():
        item = parse_body(app, Item)
        return {"name": item.name}, 201

    @app.get("/api/v1/items/<item_id>")
    def get(item_id: str):
        if item_id == "missing":
            raise ApiError(404, "item_not_found", "no such item")
        raise RuntimeError("database password is hunter2")

    return app


def call(app, event):
    reply = app.resolve(event, FakeContext())
    return reply["statusCode"], json.loads(reply["body"]), reply.get("multiValueHeaders") or reply.get("headers", {})


def test_valid_request_is_served(app):
    status, body, _ = call(app, api_event("POST", "/api/v1/items", {"name": "a", "count": 1}))
    assert (status, body) == (201, {"name": "a"})


def test_api_error_uses_the_contract_format(app):
    status, body, _ = call(app, api_event("GET", "/api/v1/items/missing"))
    assert status == 404
    assert body == {"error": {"code": "item_not_found", "message": "no such item", "request_id": "req-1"}}


@pytest.mark.parametrize("payload", [{"name": "", "count": 1}, {"name": "a", "count": -1}, {"name": "a"}])
def test_schema_violations_are_422_validation_error(app, payload):
    status, body, _ = call(app, api_event("POST", "/api/v1/items", payload))
    assert status == 422
    assert body["error"]["code"] == "validation_error" and body["error"]["message"]


UNPARSABLE = "the body must be a JSON object (nesting at most 64 deep, numbers at most 100 digits)"


@pytest.mark.parametrize("payload, message", [
    ("not json", UNPARSABLE), ('{"a":' * 65 + "1" + "}" * 65, UNPARSABLE), ('{"n": ' + "9" * 101 + "}", UNPARSABLE),
    ("[1, 2]", "the body must be a JSON object"), ("null", "the body must be a JSON object")])
def test_bodies_that_are_not_objects_are_400_invalid_json(app, payload, message):
    """The message tells the app's developer which limit the body broke."""
    status, body, _ = call(app, api_event("POST", "/api/v1/items", payload))
    assert (status, body["error"]["code"], body["error"]["message"]) == (400, "invalid_json", message)


def test_unknown_route_is_404_not_found(app):
    status, body, _ = call(app, api_event("GET", "/api/v1/nothing"))
    assert (status, body["error"]["code"]) == (404, "not_found")


def test_unexpected_errors_are_500_without_details(app, capsys):
    status, body, _ = call(app, api_event("GET", "/api/v1/items/x"))
    assert (status, body["error"]["code"]) == (500, "internal_error")
    assert "hunter2" not in json.dumps(body)


def test_cors_answers_only_the_configured_origins(app):
    _, _, headers = call(app, api_event("POST", "/api/v1/items", {"name": "a", "count": 1},
                                        headers={"Origin": "http://localhost:3000"}))
    assert "http://localhost:3000" in json.dumps(headers)
    _, _, headers = call(app, api_event("POST", "/api/v1/items", {"name": "a", "count": 1},
                                        headers={"Origin": "https://evil.example"}))
    assert "evil.example" not in json.dumps(headers)


def test_settings_come_from_the_environment_once(monkeypatch):
    monkeypatch.setenv("TABLE_NAME", "serenya-test")
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://a.example,https://b.example")
    monkeypatch.delenv("TEMP_BUCKET", raising=False)
    settings_module.settings.cache_clear()
    try:
        s = settings_module.settings()
        assert s.require("table_name") == "serenya-test"
        assert s.allowed_origins == ("https://a.example", "https://b.example")
        with pytest.raises(settings_module.MissingSetting, match="temp_bucket"):
            s.require("temp_bucket")
    finally:
        settings_module.settings.cache_clear()


class Inner(BaseModel):
    x: int


class Many(BaseModel):
    a: int
    b: int
    c: int
    d: int
    e: int
    f: int
    inner: Inner


def test_a_validation_message_names_at_most_five_fields_by_their_path():
    from pydantic import ValidationError

    from functions.common.http import _validation_message

    with pytest.raises(ValidationError) as caught:
        Many.model_validate({"inner": {"x": "not a number"}})
    message = _validation_message(caught.value.errors())
    parts = message.split("; ")
    assert [p.split(": ", 1)[0] for p in parts] == ["a", "b", "c", "d", "e"]  # the first five of seven
    assert all(p.split(": ", 1)[1] == "Field required" for p in parts)
    nested = _validation_message([{"loc": ("body", "inner", "x"), "msg": "Input should be a valid integer"}])
    assert nested == "inner.x: Input should be a valid integer"
    assert _validation_message([{"loc": (), "msg": "Value error, dates are reversed"}]) == \
        "body: Value error, dates are reversed"
    assert _validation_message([{"loc": ("items", 0)}]) == "items.0: invalid"
    assert _validation_message([]) == "request does not match the schema"


def test_a_route_for_a_deleted_account_answers_401_account_gone(aws_env):
    from functions.common.http import caller_id

    app = make_resolver(cors_origins=())

    @app.get("/api/v1/me")
    def me():
        return {"id": caller_id(app)}

    event = api_event("GET", "/api/v1/me")
    event["requestContext"]["authorizer"] = {"user_id": "deleted-user"}
    status, body, _ = call(app, event)
    assert status == 401
    assert body["error"] == {"code": "unauthorized", "message": "this account no longer exists", "request_id": "req-1"}


def test_consents_given_are_the_ones_the_request_carries_in_the_contracts_order():
    from functions.common.models import Consent, Consents

    yes, no = Consent(version="2", accepted=True), Consent(version="1", accepted=False)
    assert list(Consents(research=no, privacy_policy=yes).given().items()) == [("privacy_policy", yes),
                                                                             ("research", no)]
    assert Consents().given() == {}


@pytest.mark.parametrize("content_type, accepted", [
    ("application/json", True), ("Application/JSON; charset=UTF-8", True), ('application/json;charset="utf-8"', True),
    ("application/json; charset = utf-8", True), ("application/json; charset=latin-1", False),
    ("application/json; charset=utf-8; boundary=x", False), ("text/plain", False), ("", False),
])
def test_bodies_must_be_declared_json_with_at_most_a_utf8_charset(app, content_type, accepted):
    status, body, _ = call(app, api_event("POST", "/api/v1/items", {"name": "a", "count": 1},
                                          headers={"Content-Type": content_type}))
    if accepted:
        assert status == 201
    else:
        assert (status, body["error"]["code"], body["error"]["message"]) == (
            415, "unsupported_media_type", "send the body as Content-Type: application/json")


def test_a_body_setting_read_only_fields_is_refused_naming_them():
    app = make_resolver(cors_origins=())

    @app.post("/api/v1/items")
    def create():
        return {"name": parse_body(app, Item, read_only=frozenset({"id", "count", "owner"})).name}, 201

    status, body, _ = call(app, api_event("POST", "/api/v1/items", {"name": "a", "count": 1, "owner": "x"}))
    assert (status, body["error"]["code"], body["error"]["message"]) == (400, "read_only_field",
                                                                         "read-only: count, owner")
    assert call(app, api_event("POST", "/api/v1/items", {"name": "a"}))[0] == 422  # the model still applies


def test_a_preflight_is_answered_for_the_stacks_origins_and_cached_ten_minutes(app):
    event = api_event("OPTIONS", "/api/v1/items", headers={"Origin": "http://localhost:3000",
                                                          "Access-Control-Request-Method": "POST"})
    reply = app.resolve(event, FakeContext())
    headers = {k.lower(): v for k, v in (reply.get("multiValueHeaders") or reply.get("headers") or {}).items()}
    value = lambda name: (headers[name][0] if isinstance(headers[name], list) else headers[name])  # noqa: E731
    assert reply["statusCode"] == 204
    assert value("access-control-allow-origin") == "http://localhost:3000"
    assert value("access-control-max-age") == "600"
    # the two the app sends (header names compare without case)
    assert {"authorization", "content-type"} <= {h.strip().lower() for h in value("access-control-allow-headers").split(",")}


@pytest.mark.parametrize("context", [{}, {"authorizer": None}, {"authorizer": {}}, {"authorizer": {"user_id": ""}}])
def test_a_route_reached_without_the_authorizers_user_answers_401_unauthorized(aws_env, context):
    """A route wired without the authorizer (a mistake in the program) must not serve anyone."""
    from functions.common.http import caller_id

    app = make_resolver(cors_origins=())

    @app.get("/api/v1/me")
    def me():
        return {"id": caller_id(app)}

    event = api_event("GET", "/api/v1/me")
    event["requestContext"] = {**{k: v for k, v in event["requestContext"].items() if k != "authorizer"}, **context}
    status, body, _ = call(app, event)
    assert (status, body["error"]["code"], body["error"]["message"]) == (401, "unauthorized", "no authenticated user")


@pytest.mark.parametrize("read", [
    lambda: __import__("functions.common.accounts", fromlist=["x"]).exists("nobody"),
    lambda: __import__("functions.common.users", fromlist=["x"]).get("nobody"),
    lambda: __import__("functions.common.users", fromlist=["x"]).user_id_for("google", "g-nobody"),
], ids=["accounts.exists", "users.get", "users.user_id_for"])
def test_account_reads_are_one_consistent_read_each(aws_env, read):
    """An eventually consistent read could still find a profile deleted a moment ago, miss
    one just created (a second sign-up for the same identity) or an update just made."""
    from functions.common import aws

    client, seen = aws.table("serenya-test").meta.client, []
    record = lambda params, **_: seen.append(dict(params))  # noqa: E731
    client.meta.events.register("provide-client-params.dynamodb.GetItem", record)
    try:
        assert not read()
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.GetItem", record)
    assert len(seen) == 1 and seen[0]["ConsistentRead"] is True


def test_the_region_is_lambdas_or_else_the_sdks_default(monkeypatch):
    """Lambda sets AWS_REGION; scripts and tests often set only AWS_DEFAULT_REGION."""
    from functions.common import aws

    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert aws.region() == "eu-central-1"
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert aws.region() == "eu-west-1"


@pytest.mark.parametrize("init, loaded", [("provisioned-concurrency", True), ("snap-start", True),
                                          ("on-demand", False), (None, False)])
def test_modules_are_preloaded_only_where_the_init_is_paid_ahead(monkeypatch, init, loaded):
    import sys

    from functions.common import lazy

    name = "email.mime.audio"  # a stdlib module no function imports
    monkeypatch.delitem(sys.modules, name, raising=False)
    if init:
        monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", init)
    else:
        monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)
    lazy.preload(name)
    assert (name in sys.modules) is loaded


def test_metrics_emitted_outside_a_stack_are_valid_emf_labelled_local(monkeypatch, capsys):
    """A script or a test without SERENYA_ENV: CloudWatch would drop a line with a
    dimension that is not a string, so the stack dimension says local."""
    from functions.common.observability import count
    from local import emf

    monkeypatch.delenv("SERENYA_ENV", raising=False)
    capsys.readouterr()
    count("Jobs", kind="result", outcome="completed")
    data = [d for line in capsys.readouterr().out.splitlines() for d in emf.parse(line)]
    assert len(data) == 2 and {d.dimensions["stack"] for d in data} == {"local"}
