"""Concurrent invocations of different functions in the one local process stay apart.

In Lambda every function runs in its own execution environments, one event at a time
each ("For each concurrent request, Lambda provisions a separate instance of your
execution environment": https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html),
so no state is shared between two functions. The local runtime runs every function in
one process, one event at a time per container (local/runtime.py): two functions' events
overlap there, and whatever per-request state a shared module (functions/common,
Powertools) keeps for the whole process is seen by both. Under load that once gave
chat_messages the body of a concurrent profile PUT (422, 400) and stamped one function's
log lines with another's user, route and request id.

Here one function is held in the middle of its request, after its event is in hand and
before it reads the body, while another function serves a whole request; then it
resumes. Each must answer its own request, and log it as its own."""

import json
import threading

import boto3
import pytest

from functions.catalog import CATALOG, by_name
from functions.common import accounts, users
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




@pytest.fixture
def runtime():
    functions = by_name(CATALOG)
    local = LocalLambda({name: functions[name] for name in PHYSICAL}, PHYSICAL, "eu-west-1", "123456789012")
    yield local
    local.close()


def held_in_account_check(monkeypatch, function: str):
    """Holds `function` in its account check (the profile's read: accounts.exists, or
    users.plan_and_identity where the plan is read instead) until `resume` is set; `inside` tells when
    it got there. It then still has to write its job and answer from its own event."""
    inside, resume = threading.Event(), threading.Event()

    def holding(check):
        def held(user_id):
            if current_function() == function:
                inside.set()
                assert resume.wait(WAIT_S)
            return check(user_id)
        return held

    monkeypatch.setattr(accounts, "exists", holding(accounts.exists))
    monkeypatch.setattr(users, "plan_and_identity", holding(users.plan_and_identity))
    return inside, resume


def test_a_function_held_mid_request_answers_its_own_request_after_another_ran(aws_env, monkeypatch, runtime,
                                                                                log_lines):
    ana, bea = onboard("ana"), onboard("bea")
    inside, resume = held_in_account_check(monkeypatch, "chat_messages")
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

    answered = {r["correlation_id"]: r for r in log_lines() if r["message"] == "request answered"}
    assert set(answered) == {"req-chat", "req-profile"}
    for request_id, user_id, route, function in (
            ("req-chat", ana, "POST /api/v1/chat/messages", "chat_messages"),
            ("req-profile", bea, "PUT /api/v1/user/profile", "user_profile")):
        line = answered[request_id]
        assert (line["user_id"], line["route"], line["function_name"]) == (user_id, route, PHYSICAL[function])
