"""AWS calls per status poll, by the job's state, counted at botocore's level inside the
status route (each API call once, whatever its retries): the account check, then S3
HEADs in the order `jobs.state` reads (outgoing/, incoming/, outgoing/ again only
before answering pending or 404). The poll is the app's most frequent request: these
counts are its cost, and the re-read that keeps a finishing job from reading pending or
404 costs a HEAD on those answers only."""

import json
import time
import uuid
from collections import Counter

import boto3
import pytest

from functions.common import aws, jobs
from tests.conftest import FakeContext, api_event

BUCKET = "serenya-test-temp"
GET, HEAD = "dynamodb.GetItem", "s3.HeadObject"
EXPECTED = {
    "pending": {GET: 1, HEAD: 3},
    "processing": {GET: 1, HEAD: 2},
    "completed": {GET: 1, HEAD: 1},
    "failed": {GET: 1, HEAD: 1},
    "not_found": {GET: 1, HEAD: 3},
    "foreign": {GET: 1},  # another user's job id: refused before any S3 call
}


def prepare(kind: str, user: str) -> jobs.JobId:
    if kind == "foreign":
        return jobs.new_job_id("result", str(uuid.uuid4()))
    if kind == "not_found":  # a ticket never used, past its upload window
        return jobs.new_job_id("result", user, now_ms=int((time.time() - 3600) * 1000))
    job = jobs.new_job_id("result", user)
    if kind == "processing":
        aws.client("s3").put_object(Bucket=BUCKET, Key=job.incoming, Body=b"%PDF-1.7")
    elif kind == "completed":
        jobs.write_outcome(job, jobs.completed(job, "result", {"document_type": "other"}))
    elif kind == "failed":
        jobs.write_outcome(job, jobs.failed(job, "model_unavailable"))
    return job


@pytest.fixture
def counted(aws_env):
    """The status route as the gateway calls it, and the AWS calls each poll makes."""
    from functions.status.handler import handler

    calls: Counter = Counter()

    def count(model, **_):
        calls[f"{model.service_model.service_name}.{model.name}"] += 1

    events = boto3._get_default_session().events
    events.register("before-call", count)
    aws.client.cache_clear()  # the route's clients are made anew, with the counter
    aws.table.cache_clear()
    user = str(uuid.uuid4())
    boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test").put_item(
        Item={"PK": f"USER#{user}", "SK": "PROFILE", "user_id": user})

    def poll(job: jobs.JobId) -> tuple[int, dict, dict]:
        event = api_event("GET", f"/api/v1/process/status/{job.value}", resource="/api/v1/process/status/{job_id}",
                          path_parameters={"job_id": job.value})
        event["requestContext"]["authorizer"] = {"user_id": user}
        calls.clear()
        reply = handler(event, FakeContext())
        return reply["statusCode"], json.loads(reply["body"]), dict(calls)

    try:
        yield user, poll
    finally:
        events.unregister("before-call", count)


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_the_aws_calls_of_one_status_poll_by_state(counted, kind):
    user, poll = counted
    job = prepare(kind, user)
    status, body, calls = poll(job)
    if kind in ("not_found", "foreign"):
        assert (status, body["error"]["code"]) == (404, "job_not_found")
    else:
        assert (status, body["status"]) == (200, kind)
    assert calls == EXPECTED[kind]
