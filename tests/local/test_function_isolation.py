"""Concurrent invocations of different functions in the one local process stay apart.

In Lambda every function runs in its own execution environments, one event at a time
each ("For each concurrent request, Lambda provisions a separate instance of your
execution environment": https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html),
so no state is shared between two functions, nor between two concurrent requests to one
function. The local runtime runs every function in one process, each concurrent
invocation in an execution environment of its own copies of its modules
(local/isolation.py). Without them Powertools' process-wide state (the resolver's current
request on its class, the Logger's keys) once gave chat_messages the body of a concurrent
profile PUT and stamped one function's log lines with another's user, route and request id.

Here one function is held in the middle of its request, after its event is in hand and
before it reads the body, while another function serves a whole request; then it
resumes. Each must answer its own request, and log it as its own, in its own stream."""

import json
import sys
import threading

import boto3
import pytest

from functions.catalog import CATALOG, by_name
from functions.common import users
from functions.common.clock import now_iso
from functions.common.oauth import Identity
from local.runtime import LocalLambda, current_function
from tests.conftest import api_event

PHYSICAL = {"chat_messages": "serenya-test-chat_messages", "user_profile": "serenya-test-user_profile"}
WAIT_S = 10  # bound on every wait: a broken handoff fails the test instead of hanging it


def onboard(sub: str) -> str:
    identity = Identity("google", sub, f"{sub}@example.com", True, sub, sub, None)
    account = users.new_account(identity, None, None, {"privacy_policy": {"version": "1", "accepted": True}},
                                {"platform": "ios", "device_id": "d"}, {"id": "s"}, now_iso())
    users.create(account, identity)
    return account.user_id


def authorized(method, path, user_id, request_id, body=None, headers=None):
    event = api_event(method, path, body, headers=headers)
    event["requestContext"].update(requestId=request_id, authorizer={"user_id": user_id, "session_id": "s"})
    return event




class Streams:
    """Each function's log stream: the lines it printed, by function."""

    def __init__(self):
        self.lines: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def __call__(self, function: str, line: str) -> None:
        with self._lock:
            self.lines.setdefault(function, []).append(line)

    def records(self, function: str) -> list[dict]:
        found = []
        for line in self.lines.get(function, []):
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
        return [r for r in found if isinstance(r, dict) and "level" in r]


@pytest.fixture
def streams():
    return Streams()


@pytest.fixture
def runtime(streams):
    functions = by_name(CATALOG)
    local = LocalLambda({name: functions[name] for name in PHYSICAL}, PHYSICAL, "eu-west-1", "123456789012",
                        output=streams)
    yield local
    local.close()


def held_in_account_check(monkeypatch, runtime, function: str):
    """Holds `function` in its account check (the profile's read: accounts.exists, or
    users.plan_and_identity where the plan is read instead) until `resume` is set; `inside` tells when
    it got there. It then still has to write its job and answer from its own event."""
    inside, resume = threading.Event(), threading.Event()
    accounts = runtime.module(function, "functions.common.accounts")
    own_users = runtime.module(function, "functions.common.users")

    def holding(check):
        def held(user_id):
            assert current_function() == function
            inside.set()
            assert resume.wait(WAIT_S)
            return check(user_id)
        return held

    monkeypatch.setattr(accounts, "exists", holding(accounts.exists))
    monkeypatch.setattr(own_users, "plan_and_identity", holding(own_users.plan_and_identity))
    return inside, resume


def test_a_function_held_mid_request_answers_its_own_request_after_another_ran(aws_env, monkeypatch, runtime,
                                                                                streams):
    ana, bea = onboard("ana"), onboard("bea")
    inside, resume = held_in_account_check(monkeypatch, runtime, "chat_messages")
    chat = authorized("POST", "/api/v1/chat/messages", ana, "req-chat", {"message": "How am I doing?"})
    profile = authorized("PUT", "/api/v1/user/profile", bea, "req-profile", {"given_name": "Bea"})
    answers = {}
    held = threading.Thread(target=lambda: answers.update(chat=runtime.invoke("chat_messages", chat)))
    held.start()
    try:
        assert inside.wait(WAIT_S)
        answers["profile"] = runtime.invoke("user_profile", profile)
    finally:
        resume.set()
        held.join(WAIT_S)
    assert not held.is_alive()

    assert answers["profile"]["statusCode"] == 200, answers["profile"]["body"]
    assert json.loads(answers["profile"]["body"])["given_name"] == "Bea"
    assert answers["chat"]["statusCode"] == 202, answers["chat"]["body"]
    job_id = json.loads(answers["chat"]["body"])["job_id"]
    assert job_id.startswith(f"chat_{ana}_")  # the job of the chat's caller, with the chat's question
    stored = boto3.client("s3", region_name="eu-west-1").get_object(
        Bucket="serenya-test-temp", Key=f"incoming/{job_id}")["Body"].read()
    assert json.loads(stored)["message"] == "How am I doing?"

    for request_id, user_id, route, function in (
            ("req-chat", ana, "POST /api/v1/chat/messages", "chat_messages"),
            ("req-profile", bea, "PUT /api/v1/user/profile", "user_profile")):
        records = streams.records(function)
        (line,) = [r for r in records if r["message"] == "request answered"]
        assert (line["correlation_id"], line["user_id"], line["route"], line["function_name"]) == (
            request_id, user_id, route, PHYSICAL[function])
        assert all(r.get("user_id") in (None, user_id) for r in records)  # nothing of the other's request


def test_a_concurrent_request_to_the_same_function_gets_an_environment_of_its_own(aws_env, monkeypatch, runtime,
                                                                                   streams):
    """While chat_messages' first environment is held mid-request, a second request to it
    runs in a new environment (a cold start) to the end; afterwards a request goes to the
    oldest free environment again (warm), as Lambda reuses its instances."""
    ana, bea = onboard("ana"), onboard("bea")
    inside, resume = held_in_account_check(monkeypatch, runtime, "chat_messages")  # the first environment's
    answers = {}
    first = authorized("POST", "/api/v1/chat/messages", ana, "req-first", {"message": "First?"})
    held = threading.Thread(target=lambda: answers.update(first=runtime.invoke("chat_messages", first)))
    held.start()
    try:
        assert inside.wait(WAIT_S)
        second = authorized("POST", "/api/v1/chat/messages", bea, "req-second", {"message": "Second?"})
        answers["second"] = runtime.invoke("chat_messages", second)
        assert "first" not in answers  # the second did not wait for the first
    finally:
        resume.set()
        held.join(WAIT_S)
    assert not held.is_alive()
    assert runtime.containers["chat_messages"] == 2
    for name, user_id in (("first", ana), ("second", bea)):
        assert answers[name]["statusCode"] == 202, answers[name]["body"]
        assert json.loads(answers[name]["body"])["job_id"].startswith(f"chat_{user_id}_")
    cold = [r["cold_start"] for r in streams.records("chat_messages") if r["message"] == "request answered"]
    assert sorted(cold) == [True, True]  # each environment's first request is its cold start

    inside.clear()
    third = authorized("POST", "/api/v1/chat/messages", ana, "req-third", {"message": "Third?"})
    done = threading.Thread(target=lambda: answers.update(third=runtime.invoke("chat_messages", third)))
    done.start()
    assert inside.wait(WAIT_S)  # the first environment (still held in its check) took it
    done.join(WAIT_S)
    assert answers["third"]["statusCode"] == 202 and runtime.containers["chat_messages"] == 2


def test_each_function_has_its_own_modules_and_a_new_runtime_starts_from_nothing(aws_env, runtime):
    """Lambda's environments share no module: not Powertools' resolver class, not a cache
    of settings (a new stack's endpoints and keys are read afresh, as by a new deployment)."""
    chat = runtime.module("chat_messages", "functions.common.settings")
    profile = runtime.module("user_profile", "functions.common.settings")
    assert chat is not profile and chat.settings() is not profile.settings()
    assert chat is runtime.module("chat_messages", "functions.common.settings")  # warm: the same container
    routers = {runtime.module(n, "aws_lambda_powertools.event_handler.api_gateway").BaseRouter for n in PHYSICAL}
    assert len(routers) == 2
    cached = chat.settings()
    runtime.close()
    assert not [m for m in sys.modules if "chat_messages.functions" in m and m.startswith("_lambda_")]
    functions = by_name(CATALOG)
    again = LocalLambda({"chat_messages": functions["chat_messages"]}, PHYSICAL, "eu-west-1", "123456789012")
    try:
        assert again.module("chat_messages", "functions.common.settings").settings() is not cached
    finally:
        again.close()


def test_each_function_sees_only_its_own_environment_variables(aws_env):
    """Lambda gives each function its own configuration: a module of one function reading
    another's variable finds nothing, as it would on AWS (`os.environ` and `os.getenv`,
    imported either way)."""
    functions = by_name(CATALOG)
    local = LocalLambda({name: functions[name] for name in PHYSICAL}, PHYSICAL, "eu-west-1", "123456789012",
                        variables={"chat_messages": {"QUOTAS": "{}"}, "user_profile": {"TABLE_NAME": "t"}})
    try:
        chat = local.module("chat_messages", "functions.common.quotas")
        profile = local.module("user_profile", "functions.common.settings")
        assert chat.os.environ == {"QUOTAS": "{}"} and chat.os.getenv("TABLE_NAME") is None
        assert profile.os.environ == {"TABLE_NAME": "t"} and profile.os.getenv("QUOTAS", "-") == "-"
        assert profile.os.path.join("a", "b") == "a/b"  # the rest of `os` is the real one
        assert "TABLE_NAME" in __import__("os").environ  # the process's own is untouched (aws_env's)
    finally:
        local.close()
