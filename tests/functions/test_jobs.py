"""Jobs in the temp bucket (functions/common/jobs.py), against moto: what each state is
made of, the files each step writes, claims, and deleting one job or every job of a user.
The routes and the process function use these; here they are exercised directly, so a
change to one of them shows here and not only in the end-to-end suite."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from functions.common import aws, jobs

BUCKET = "serenya-test-temp"


def s3():
    return boto3.client("s3", region_name="eu-west-1")


def keys() -> set[str]:
    return {o["Key"] for o in s3().list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def user() -> str:
    return str(uuid.uuid4())


def old_job(kind: str, user_id: str, age_s: float = 3600) -> jobs.JobId:
    return jobs.new_job_id(kind, user_id, now_ms=int((time.time() - age_s) * 1000))


def completed_at(outcome: dict) -> datetime:
    """The outcome's time: ISO 8601 in UTC with a Z, as the contract writes times."""
    assert outcome["completed_at"].endswith("Z")
    when = datetime.fromisoformat(outcome["completed_at"].removesuffix("Z") + "+00:00")
    assert when.utcoffset() == timedelta(0)
    return when


def test_a_job_id_names_its_kind_user_and_time_and_parses_back():
    owner = user()
    job = jobs.new_job_id("chat", owner, now_ms=1_700_000_000_000)
    assert job.value.startswith(f"chat_{owner}_1700000000000_") and len(job.value.rsplit("_", 1)[1]) == 16
    assert jobs.parse(job.value) == job
    assert (job.incoming, job.outgoing, job.claim) == (f"incoming/{job.value}", f"outgoing/{job.value}",
                                                       f"claims/{job.value}")
    assert jobs.new_job_id("chat", owner).value != jobs.new_job_id("chat", owner).value


def test_a_job_without_files_is_pending_inside_the_upload_window_and_not_found_after(aws_env):
    owner = user()
    job = jobs.new_job_id("result", owner, now_ms=1_700_000_000_000)
    start = job.created_ms / 1000
    assert jobs.state(job, now=start).status == "pending"
    assert jobs.state(job, now=start + jobs.UPLOAD_WINDOW_SECONDS).status == "pending"
    assert jobs.state(job, now=start + jobs.UPLOAD_WINDOW_SECONDS + 0.01).status == "not_found"
    # only a lab report is uploaded by the app: a chat or report job's input is written with its id
    chat = jobs.new_job_id("chat", owner, now_ms=job.created_ms)
    assert jobs.state(chat, now=start) == jobs.JobState("not_found")
    assert jobs.outcome_or_state(chat) == (None, jobs.JobState("not_found"))


def test_an_input_is_processing_until_the_timeout_then_failed(aws_env):
    job = jobs.new_job_id("chat", user())
    payload = {"message": "Is my ferritin low?", "results": []}
    jobs.write_input(job, payload)
    head = s3().head_object(Bucket=BUCKET, Key=job.incoming)
    assert head["ContentType"] == "application/json"
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", aws_env["data_key"])
    assert json.loads(s3().get_object(Bucket=BUCKET, Key=job.incoming)["Body"].read()) == payload
    landed = head["LastModified"].timestamp()
    assert jobs.state(job, now=landed) == jobs.JobState("processing")
    assert jobs.state(job, now=landed + jobs.PROCESSING_TIMEOUT_SECONDS) == jobs.JobState("processing")
    late = jobs.state(job, now=landed + jobs.PROCESSING_TIMEOUT_SECONDS + 1)
    assert late == jobs.JobState("failed", "processing_timeout")
    assert late.error == {"code": "processing_timeout", "message": "the job did not finish within 15 minutes"}
    assert jobs.outcome_or_state(job) == (None, jobs.JobState("processing"))


def test_an_outcome_is_written_once_and_read_with_its_state(aws_env):
    job = jobs.new_job_id("chat", user())
    jobs.write_input(job, {"message": "hello"})
    done = jobs.completed(job, "answer", {"message": "hi"})
    assert done["job_id"] == job.value and done["status"] == "completed" and done["answer"] == {"message": "hi"}
    assert completed_at(done) is not None
    assert jobs.write_outcome(job, done) is True
    assert jobs.write_outcome(job, jobs.failed(job, "model_unavailable")) is False  # terminal: never overwritten
    assert jobs.state(job) == jobs.JobState("completed") and jobs.outcome_status(job) == "completed"
    assert jobs.outcome_or_state(job) == (done, jobs.JobState("completed"))
    head = s3().head_object(Bucket=BUCKET, Key=job.outgoing)
    assert head["ContentType"] == "application/json" and head["Metadata"] == {"status": "completed"}
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", aws_env["data_key"])


@pytest.mark.parametrize("code, message", [("model_unavailable", "the analysis service was unavailable; try again"),
                                           ("something_new", "the job failed")])
def test_a_failed_outcome_carries_its_error_code_and_message(aws_env, code, message):
    job = jobs.new_job_id("report", user())
    outcome = jobs.failed(job, code)
    assert outcome["job_id"] == job.value and outcome["status"] == "failed"
    assert outcome["error"] == {"code": code, "message": message} and completed_at(outcome) is not None
    assert jobs.write_outcome(job, outcome) is True
    assert s3().head_object(Bucket=BUCKET, Key=job.outgoing)["Metadata"] == {"status": "failed", "error-code": code}
    assert jobs.state(job) == jobs.JobState("failed", code)
    assert jobs.state(job).error == {"code": code, "message": message}
    assert jobs.outcome_or_state(job) == (outcome, jobs.JobState("failed", code))
    assert jobs.JobState("completed").error is None


def test_an_outcome_written_while_the_state_is_read_is_returned_with_its_content(aws_env):
    """The GET finds nothing, then the outcome lands before the HEADs: the state would say
    completed without a result, so the outcome is read again."""
    job = jobs.new_job_id("chat", user())
    jobs.write_input(job, {"message": "hello"})
    done = jobs.completed(job, "answer", {"message": "hi"})
    client = aws.client("s3")
    written = []

    def land_outcome(**_):
        if not written:
            written.append(jobs.write_outcome(job, done))

    client.meta.events.register("before-call.s3.HeadObject", land_outcome)
    try:
        assert jobs.outcome_or_state(job) == (done, jobs.JobState("completed"))
    finally:
        client.meta.events.unregister("before-call.s3.HeadObject", land_outcome)
    assert written == [True]


def test_a_failure_other_than_a_missing_file_is_raised(aws_env):
    from botocore.exceptions import ClientError

    job = jobs.new_job_id("chat", user())
    with Stubber(aws.client("s3")) as stub:
        stub.add_client_error("get_object", "AccessDenied", http_status_code=403)
        stub.add_client_error("head_object", "403", http_status_code=403)
        with pytest.raises(ClientError):
            jobs.outcome_or_state(job)
        with pytest.raises(ClientError):
            jobs.state(job)


def test_a_claim_is_granted_to_its_first_owner_and_to_that_owners_retries_only(aws_env):
    job = jobs.new_job_id("result", user())
    assert jobs.claim(job, "request-1") is True
    assert jobs.claim(job, "request-1") is True   # Lambda's retry of the same event
    assert jobs.claim(job, "request-2") is False  # another delivery of the same upload
    assert s3().get_object(Bucket=BUCKET, Key=job.claim)["Body"].read() == b"request-1"


def test_a_claim_released_between_the_conditional_write_and_the_read_is_not_granted(aws_env):
    """The conditional write loses, then the holder's claim is gone (its job finished and
    was cleaned up): this delivery must not run the job again."""
    job = jobs.new_job_id("result", user())
    with Stubber(aws.client("s3")) as stub:
        stub.add_client_error("put_object", "PreconditionFailed", http_status_code=412)
        stub.add_client_error("get_object", "NoSuchKey", http_status_code=404)
        assert jobs.claim(job, "request-2") is False
        stub.assert_no_pending_responses()


def test_deleting_a_job_removes_its_input_and_claim_and_leaves_it_not_found(aws_env):
    owner = user()
    job, other = old_job("chat", owner), old_job("chat", owner)
    for j in (job, other):
        jobs.write_input(j, {"message": "hello"})
        jobs.claim(j, "request-1")
        jobs.write_outcome(j, jobs.completed(j, "answer", {"message": "hi"}))
    jobs.delete(job)
    assert job.incoming not in keys() and job.claim not in keys()
    assert jobs.outcome_or_state(job) == (None, jobs.JobState("not_found"))
    assert jobs.state(job) == jobs.JobState("not_found")
    assert jobs.write_outcome(job, jobs.failed(job, "model_unavailable")) is False  # never brought back
    assert {other.incoming, other.outgoing, other.claim} <= keys()  # the other job is untouched


def test_a_deleted_result_job_is_not_found_even_inside_its_upload_window(aws_env):
    job = jobs.new_job_id("result", user())
    assert jobs.state(job).status == "pending"
    jobs.delete(job)
    assert jobs.outcome_status(job) == jobs.DELETED
    assert jobs.state(job) == jobs.JobState("not_found") and jobs.outcome_or_state(job)[1].status == "not_found"


def test_deleting_every_job_of_a_user_leaves_other_users_files(aws_env):
    owner, neighbour = user(), user()
    mine = [old_job(kind, owner) for kind in jobs.KINDS]
    theirs = old_job("result", neighbour)
    for job in (*mine, theirs):
        jobs.write_input(job, {"message": "hello"})
        jobs.claim(job, "request-1")
        jobs.write_outcome(job, jobs.completed(job, "answer", {"message": "hi"}))
    assert jobs.delete_all_of(owner) == 3 * len(mine)
    remaining = keys()
    assert not [k for k in remaining if owner in k]
    assert {theirs.incoming, theirs.outgoing, theirs.claim} <= remaining
    for job in mine:
        assert jobs.outcome_or_state(job) == (None, jobs.JobState("not_found"))
    assert jobs.delete_all_of(owner) == 0


def test_deleting_every_job_of_a_user_reads_every_page_of_the_listing(aws_env):
    owner = user()
    for _ in range(3):
        jobs.write_input(old_job("chat", owner), {"message": "hello"})
    client = aws.client("s3")
    pages = []

    def small_pages(params, **_):  # S3 lists at most 1,000 keys per page; moto honours MaxKeys
        params["MaxKeys"] = 1
        pages.append(params["Prefix"])

    client.meta.events.register("provide-client-params.s3.ListObjectsV2", small_pages)
    try:
        assert jobs.delete_all_of(owner) == 3
    finally:
        client.meta.events.unregister("provide-client-params.s3.ListObjectsV2", small_pages)
    assert not [k for k in keys() if owner in k]
    assert f"incoming/chat_{owner}_" in pages


def test_an_outcome_that_stays_unreadable_is_read_twice_at_most(aws_env):
    """The HEAD says completed but the GET keeps answering 404: two reads, then the state."""
    job = jobs.new_job_id("chat", user())
    completed_head = {"Metadata": {"status": "completed"}, "ContentLength": 10}
    with Stubber(aws.client("s3")) as stub:
        for _ in range(2):
            stub.add_client_error("get_object", "NoSuchKey", http_status_code=404)
            stub.add_response("head_object", completed_head)
        assert jobs.outcome_or_state(job) == (None, jobs.JobState("completed"))
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("age_s, expected", [(0, jobs.JobState("processing")),
                                             (jobs.PROCESSING_TIMEOUT_SECONDS + 60,
                                              jobs.JobState("failed", "processing_timeout"))])
def test_a_job_without_outcome_costs_one_read_and_its_state(aws_env, monkeypatch, age_s, expected):
    """One GET of the outcome, then the state's HEADs: a job still processing, or one whose
    processing timed out, is not read again."""
    job = jobs.new_job_id("chat", user())
    jobs.write_input(job, {"message": "hello"})
    client, calls = aws.client("s3"), []

    def counted(model, **_):
        calls.append(model.name)

    real_time = time.time
    monkeypatch.setattr(jobs.time, "time", lambda: real_time() + age_s)  # the job's clock, later
    client.meta.events.register("before-call.s3.*", counted)
    try:
        assert jobs.outcome_or_state(job) == (None, expected)
    finally:
        client.meta.events.unregister("before-call.s3.*", counted)
    assert calls == ["GetObject", "HeadObject", "HeadObject"]


def test_an_outcome_without_status_metadata_is_completed(aws_env):
    job = jobs.new_job_id("chat", user())
    s3().put_object(Bucket=BUCKET, Key=job.outgoing, Body=b"{}")
    assert jobs.outcome_status(job) == "completed" and jobs.state(job) == jobs.JobState("completed")


def test_a_missing_bucket_is_an_error_not_a_missing_job(aws_env):
    """NoSuchBucket is also a 404, but it means the stack is misconfigured: it must reach
    Lambda as an error (and the errors alarm), not read as a job that does not exist."""
    from botocore.exceptions import ClientError

    job = jobs.new_job_id("chat", user())
    with Stubber(aws.client("s3")) as stub:
        stub.add_client_error("get_object", "NoSuchBucket", http_status_code=404)
        with pytest.raises(ClientError):
            jobs.outcome_or_state(job)


def test_a_head_that_finds_nothing_reads_as_no_outcome(aws_env):
    """HEAD replies carry no body, so botocore names the error after the status: "404"."""
    job = jobs.new_job_id("chat", user())
    with Stubber(aws.client("s3")) as stub:
        stub.add_client_error("head_object", "404", http_status_code=404)
        assert jobs.outcome_status(job) is None
    assert jobs.outcome_status(job) is None  # and moto's real reply reads the same


def test_a_job_finishing_between_the_two_reads_is_never_reported_not_found(aws_env, monkeypatch):
    """process writes outgoing/ and then deletes incoming/: a poll that read outgoing/ just
    before the write and incoming/ just after the delete saw neither (API.md: "A poll never
    answers 404 for a job that exists, not even while it finishes")."""
    job = jobs.new_job_id("chat", "user-9")
    jobs.write_input(job, {"message": "Hi?"})
    head = jobs._head
    reads = []

    def racing(key):
        reads.append(key)
        found = head(key)
        if key == job.outgoing and len(reads) == 1:  # the job finishes right after this read
            jobs.write_outcome(job, jobs.failed(job, "model_unavailable"))
            aws.client("s3").delete_object(Bucket="serenya-test-temp", Key=job.incoming)
        return found

    monkeypatch.setattr(jobs, "_head", racing)
    assert jobs.state(job).status == "failed"


@pytest.mark.parametrize("age_s", [0, jobs.UPLOAD_WINDOW_SECONDS + 60], ids=["within-its-window", "after-it"])
def test_a_document_finishing_between_the_two_reads_is_never_pending_nor_not_found(aws_env, monkeypatch, age_s):
    """The same interleaving for a lab report. Within its upload window (the usual case: a
    PDF finishes seconds after its upload), with no re-read the poll would answer `pending`
    ("not uploaded yet", API.md: review of issue 26); uploaded late and finishing after the
    window, it would find neither file and no window left (404)."""
    job = old_job("result", user(), age_s=age_s)
    s3().put_object(Bucket=BUCKET, Key=job.incoming, Body=b"%PDF-1.7")
    assert jobs.state(job).status == "processing"
    head, reads = jobs._head, []

    def racing(key):
        reads.append(key)
        found = head(key)
        if len(reads) == 1:  # outgoing/ read, still missing: process finishes now
            assert key == job.outgoing and found is None
            jobs.write_outcome(job, jobs.completed(job, "result", {"document_type": "other"}))
            s3().delete_object(Bucket=BUCKET, Key=job.incoming)
        return found

    monkeypatch.setattr(jobs, "_head", racing)
    assert jobs.state(job).status == "completed"
    assert reads == [job.outgoing, job.incoming, job.outgoing]
