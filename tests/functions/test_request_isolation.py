"""A warm container keeps module state between invocations: nothing of one request may
reach the next one the same function handles (another user's, on AWS).

Lambda reuses an execution environment, module globals included, for the function's
later invocations ("Objects declared outside of the function's handler method remain
initialized, providing additional optimization when the function is invoked again":
https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html). Here one
function module handles request A, then requests B and C of another user that lack what
A had: they must be answered and logged from their own event only."""

import json

import boto3
import pytest

from functions.common import users
from functions.common.clock import now_iso
from functions.common.oauth import Identity
from functions.common.observability import job_ref, logger, metrics
from tests.conftest import FakeContext, api_event

CHAT = "/api/v1/chat/messages"


class Context(FakeContext):
    def __init__(self, request_id):
        self.aws_request_id = request_id


def onboard(sub: str) -> str:
    identity = Identity("google", sub, f"{sub}@example.com", True, sub, sub, None)
    account = users.new_account(identity, None, None, {"privacy_policy": {"version": "1", "accepted": True}},
                                {"platform": "ios", "device_id": "d"}, {"id": "s"}, now_iso())
    users.create(account, identity)
    return account.user_id


def request(user_id, request_id, body=None, headers=None, method="POST", path=CHAT):
    event = api_event(method, path, body, headers=headers)
    if headers is not None:
        event["headers"] = headers  # exactly these: no Content-Type unless given
    event["requestContext"].update(requestId=request_id, authorizer={"user_id": user_id, "session_id": "s"})
    return event




def answer(handler, event, request_id):
    reply = handler(event, Context(request_id))
    return reply["statusCode"], json.loads(reply["body"] or "null")


def test_the_next_request_sees_nothing_of_the_previous_one(aws_env, log_lines):
    from functions.chat_messages import handler as chat

    ana, bea = onboard("ana"), onboard("bea")
    status, body = answer(chat.handler, request(ana, "req-a", {"message": "from Ana"}), "aws-a")
    assert status == 202
    job = body["job_id"]
    # B: no Content-Type (A's header must not count), C: declared JSON but no body (A's must not count).
    b = answer(chat.handler, request(bea, "req-b", {"message": "from Bea"}, headers={}), "aws-b")
    c = answer(chat.handler, request(bea, "req-c", headers={"Content-Type": "application/json"}), "aws-c")
    assert b == (415, {"error": {"code": "unsupported_media_type", "message": b[1]["error"]["message"],
                                 "request_id": "req-b"}})
    assert c[0] == 400 and c[1]["error"]["code"] == "invalid_json" and c[1]["error"]["request_id"] == "req-c"
    # D: a valid request of Bea's creates Bea's job with Bea's question.
    status, body = answer(chat.handler, request(bea, "req-d", {"message": "from Bea"}), "aws-d")
    assert status == 202 and body["job_id"].startswith(f"chat_{bea}_")
    stored = boto3.client("s3", region_name="eu-west-1").get_object(
        Bucket="serenya-test-temp", Key=f"incoming/{body['job_id']}")["Body"].read()
    assert json.loads(stored) == {"message": "from Bea"}

    logged = log_lines()
    for request_id, aws_request_id in (("req-b", "aws-b"), ("req-c", "aws-c"), ("req-d", "aws-d")):
        lines = [r for r in logged if r.get("correlation_id") == request_id]
        assert lines and all(r["user_id"] == bea and r["function_request_id"] == aws_request_id for r in lines)
        assert job_ref(job) not in json.dumps(lines)  # A's job is not named on B's, C's or D's lines
    assert ana not in json.dumps([r for r in logged if r.get("correlation_id") != "req-a"])
    # Nothing of the last request stays on the logger (its keys are the formatter's, kept
    # by the warm container) or the metrics either.
    per_request = {"route", "user_id", "job_ref", "job_kind", "correlation_id", "function_request_id"}
    assert not per_request & logger.get_current_keys().keys()
    assert (metrics.metric_set, metrics.dimension_set, metrics.metadata_set) == ({}, {}, {})
