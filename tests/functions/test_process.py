"""The process function against moto with a stubbed model: every job ends completed or
failed, retries stay inside the deadline, duplicate deliveries do nothing."""

import io
import json
import time
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from functions.common import jobs, usage
from functions.process import handler as process_module
from tests.conftest import FakeContext
from tests.fixtures.lab_reports import TABLE

USER = str(uuid.uuid4())
BUCKET = "serenya-test-temp"


class StubModel:
    """Answers with the queued replies (dicts) or raises the queued exceptions."""
    model_id = "stub-model"

    def __init__(self, *replies):
        self.replies = list(replies)
        self.calls = 0

    def converse(self, *, system, messages, tool, timeout_s=None):
        self.calls += 1
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        return {"output": {"message": {"role": "assistant", "content": [
            {"toolUse": {"toolUseId": "t", "name": tool["toolSpec"]["name"], "input": reply}}]}},
            "stopReason": "tool_use", "usage": {"inputTokens": 10, "outputTokens": 5}}


def throttled(code="ThrottlingException"):
    return ClientError({"Error": {"Code": code, "Message": "slow down"}}, "Converse")


VALID = {"document_type": "lab_report", "summary": "One value.", "confidence": 0.8, "observations": [
    {"name": "Hemoglobin", "loinc": "718-7", "value": 11.2, "value_text": "11.2", "unit": "g/dL",
     "reference_range": {"low": 12.0, "high": 15.5, "text": "12.0-15.5"}, "flag": "low"}]}


@pytest.fixture
def s3(aws_env, monkeypatch, process_clock):
    process_clock(sleep=lambda s: None)
    # The jobs' owner exists: process writes outcomes only for existing accounts.
    boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test").put_item(
        Item={"PK": f"USER#{USER}", "SK": "PROFILE", "user_id": USER})
    return boto3.client("s3", region_name="eu-west-1")


def use(monkeypatch, model):
    monkeypatch.setattr(process_module, "provider", lambda: model)
    return model


def upload(s3, body=None, content_type="application/pdf", kind="result", payload=None, user=USER):
    job = jobs.new_job_id(kind, user)
    data = body if body is not None else json.dumps(payload).encode()
    s3.put_object(Bucket=BUCKET, Key=job.incoming, Body=data, ContentType=content_type)
    return job


def deliver(job, remaining_ms=300_000):
    context = FakeContext()
    context.get_remaining_time_in_millis = lambda: remaining_ms
    process_module.handler({"Records": [{"s3": {"object": {"key": job.incoming}}}]}, context)


def outcome(s3, job):
    head = s3.head_object(Bucket=BUCKET, Key=job.outgoing)
    return json.loads(s3.get_object(Bucket=BUCKET, Key=job.outgoing)["Body"].read()), head["Metadata"]


def incoming_exists(s3, job):
    return "Contents" in s3.list_objects_v2(Bucket=BUCKET, Prefix=job.incoming)


def test_valid_reply_completes_the_job_and_removes_the_input(s3, monkeypatch):
    use(monkeypatch, StubModel(VALID))
    job = upload(s3, TABLE.pdf())
    deliver(job)
    result, meta = outcome(s3, job)
    assert result["status"] == "completed" and meta == {"status": "completed"}
    assert result["result"]["observations"][0]["flag"] == "low"
    assert result["result"]["model"] == "stub-model" and "not medical advice" in result["result"]["disclaimer"]
    assert not incoming_exists(s3, job)
    assert jobs.state(job).status == "completed"


def test_a_job_whose_account_was_deleted_leaves_nothing(s3, monkeypatch, capsys):
    """An upload that lands after DELETE (its presigned POST issued before) creates no outcome."""
    use(monkeypatch, StubModel(VALID))
    job = upload(s3, TABLE.pdf())
    boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test").delete_item(
        Key={"PK": f"USER#{USER}", "SK": "PROFILE"})
    deliver(job)
    assert not incoming_exists(s3, job)
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=job.outgoing)
    assert '"reason":"account_deleted"' in capsys.readouterr().out.replace(" ", "")  # JobsRejected


def test_a_deleted_accounts_upload_costs_no_model_call(s3, monkeypatch):
    """Issue 24, item 4: the account is checked before the model is called, not only after."""
    model = StubModel(VALID)
    use(monkeypatch, model)
    job = upload(s3, TABLE.pdf())
    boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test").delete_item(
        Key={"PK": f"USER#{USER}", "SK": "PROFILE"})
    deliver(job)
    assert model.calls == 0 and not incoming_exists(s3, job)


@pytest.mark.parametrize("reply", [
    {"document_type": "lab_report"},                                   # fields missing
    {**VALID, "confidence": 7},                                        # out of range
    {**VALID, "observations": [{"name": "x", "value_text": "1", "flag": "weird"}]},
    {**VALID, "extra": "field"},
])
def test_reply_failing_validation_ends_failed(s3, monkeypatch, reply):
    use(monkeypatch, StubModel(reply))
    job = upload(s3, TABLE.pdf())
    deliver(job)
    result, meta = outcome(s3, job)
    assert result["status"] == "failed" and result["error"]["code"] == "invalid_model_reply"
    assert meta == {"status": "failed", "error-code": "invalid_model_reply"}
    assert jobs.state(job).error == result["error"]


def test_throttling_is_retried_then_completes(s3, monkeypatch):
    model = use(monkeypatch, StubModel(throttled(), throttled("ServiceUnavailableException"), VALID))
    job = upload(s3, TABLE.pdf())
    deliver(job)
    assert outcome(s3, job)[0]["status"] == "completed" and model.calls == 3


def test_persistent_throttling_fails_inside_the_deadline(s3, monkeypatch, capsys, process_clock):
    model = use(monkeypatch, StubModel(throttled()))
    job = upload(s3, TABLE.pdf())
    clock = [1000.0]
    process_clock(monotonic=lambda: clock[0])
    process_clock(sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    deliver(job, remaining_ms=60_000)
    result, _ = outcome(s3, job)
    assert result["error"]["code"] == "model_unavailable"
    assert 3 <= model.calls <= 10 and clock[0] <= 1000.0 + 60 - process_module.OUTCOME_MARGIN_S
    # the runbook tells "unavailable" (retries ran out) from the refusals
    assert [(d["kind"], d["reason"]) for d in emitted(capsys, "ModelFailures") if "reason" in d] == [
        ("result", "unavailable")]


def test_a_refused_call_is_not_retried(s3, monkeypatch):
    model = use(monkeypatch, StubModel(throttled("AccessDeniedException")))
    job = upload(s3, TABLE.pdf())
    deliver(job)
    assert outcome(s3, job)[0]["error"]["code"] == "model_unavailable" and model.calls == 1


def test_a_retried_delivery_does_nothing(s3, monkeypatch):
    model = use(monkeypatch, StubModel(VALID))
    job = upload(s3, TABLE.pdf())
    deliver(job)
    first = outcome(s3, job)[0]
    s3.put_object(Bucket=BUCKET, Key=job.incoming, Body=TABLE.pdf(), ContentType="application/pdf")  # S3 re-sends
    deliver(job)
    deliver(job)
    assert outcome(s3, job)[0] == first and model.calls == 1 and not incoming_exists(s3, job)


def test_content_that_is_not_what_was_declared_fails(s3, monkeypatch):
    model = use(monkeypatch, StubModel(VALID))
    job = upload(s3, b"%PDF-1.4 not a png", content_type="image/png")
    deliver(job)
    assert outcome(s3, job)[0]["error"]["code"] == "unsupported_document" and model.calls == 0


def test_a_malformed_key_is_removed(s3, monkeypatch):
    use(monkeypatch, StubModel(VALID))
    s3.put_object(Bucket=BUCKET, Key="incoming/../../etc/passwd", Body=b"x")
    process_module.handler({"Records": [{"s3": {"object": {"key": "incoming/../../etc/passwd"}}}]}, FakeContext())
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="incoming/")
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="outgoing/")


def test_chat_and_report_inputs_are_validated_again(s3, monkeypatch):
    use(monkeypatch, StubModel({"message": "fine"}))
    job = upload(s3, kind="chat", content_type="application/json", payload={"message": ""})
    deliver(job)
    assert outcome(s3, job)[0]["error"]["code"] == "invalid_request"
    job = upload(s3, kind="chat", content_type="application/json", payload={"message": "How is my iron?"})
    deliver(job)
    response = outcome(s3, job)[0]["response"]
    assert response["message"] == "fine" and response["model"] == "stub-model" and response["disclaimer"]


# -- job ids and states ---------------------------------------------------------------

def test_job_ids_are_owned_exactly():
    job = jobs.new_job_id("result", USER)
    assert jobs.owned(job.value, USER) == job
    assert jobs.owned(job.value, str(uuid.uuid4())) is None
    assert jobs.owned(job.value, USER, kinds=("chat",)) is None
    future = jobs.new_job_id("result", USER, now_ms=int(time.time() * 1000) + 3_600_000)
    assert jobs.owned(future.value, USER) is None


@pytest.mark.parametrize("value", [
    "", "result", f"result_{USER}", f"result_{USER}_1_abc", f"photo_{USER}_1700000000000_0123456789abcdef",
    f"result_{USER}_1700000000000_0123456789abcdef/../x", f"../result_{USER}_1700000000000_0123456789abcdef",
    f"result_{USER.upper()}_1700000000000_0123456789abcdef", f"result_{USER}_1700000000000_0123456789abcdef\n",
    "result_*_1700000000000_0123456789abcdef",
])
def test_malformed_job_ids_are_nobodys(value):
    assert jobs.owned(value, USER) is None and jobs.owned(value, USER.upper()) is None


def test_states_over_time(s3):
    job = jobs.new_job_id("result", USER)
    now = job.created_ms / 1000
    assert jobs.state(job, now=now + 10).status == "pending"
    assert jobs.state(job, now=now + jobs.UPLOAD_WINDOW_SECONDS + 1).status == "not_found"
    chat = jobs.new_job_id("chat", USER)
    assert jobs.state(chat, now=now + 1).status == "not_found"  # chat jobs are never "pending"
    s3.put_object(Bucket=BUCKET, Key=job.incoming, Body=b"%PDF-")
    assert jobs.state(job).status == "processing"
    late = jobs.state(job, now=time.time() + jobs.PROCESSING_TIMEOUT_SECONDS + 5)
    assert (late.status, late.error_code) == ("failed", "processing_timeout")


def test_an_outcome_written_between_the_reads_is_returned(s3, monkeypatch):
    """status sees `completed` (HEAD) after the GET missed: the outcome is read again."""
    job = jobs.new_job_id("chat", USER)
    real_state = jobs.state

    def state_after_the_write(j, now=None):
        jobs.write_outcome(j, jobs.completed(j, "response", {"message": "hi"}))
        return real_state(j, now)

    monkeypatch.setattr(jobs, "state", state_after_the_write)
    outcome, current = jobs.outcome_or_state(job)
    assert outcome["response"] == {"message": "hi"} and current.status == "completed"


# What Bedrock answers while the account has not enabled the model (the one-time Anthropic
# use case form or the Marketplace subscription), as documented in
# https://docs.aws.amazon.com/bedrock/latest/userguide/model-access.html
MODEL_ACCESS_DENIED = ("Model access is denied due to IAM user or service role is not authorized to perform the "
                       "required AWS Marketplace actions (aws-marketplace:ViewSubscriptions, "
                       "aws-marketplace:Subscribe) to enable access to this model.")


def emitted(capsys, metric):
    """The EMF documents Powertools printed for `metric` (as CloudWatch would read them)."""
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [d for d in docs if metric in d]


# ValidationException messages as AWS documents them, the ones that are ours to fix:
# https://repost.aws/knowledge-center/bedrock-validation-exception-errors
MODEL_ID_INVALID = "The provided model identifier is invalid."
ACCOUNT_NOT_AUTHORISED = "Your AWS account is not authorized to invoke this API operation."


@pytest.mark.parametrize("code, status, message, reason", [
    ("AccessDeniedException", 403, MODEL_ACCESS_DENIED, "access_denied"),
    ("ResourceNotFoundException", 404, "Model not found.", "model_not_found"),
    ("ValidationException", 400, MODEL_ID_INVALID, "request_invalid"),
    ("ValidationException", 400, ACCOUNT_NOT_AUTHORISED, "request_invalid"),
    # a block we prepared too large (images.py scales photos to fit): our bug, it pages
    ("ValidationException", 400, "messages.0.content.0.image.source: image exceeds max limit of 3.75 MB",
     "request_invalid"),
])
def test_a_model_the_account_cannot_use_fails_the_job_with_its_reason(s3, monkeypatch, capsys, code, status,
                                                                      message, reason):
    """The real Bedrock runtime client, its answer validated against the service model."""
    from botocore.stub import Stubber

    from functions.process.providers import BedrockProvider

    bedrock = BedrockProvider("eu.anthropic.claude-haiku-4-5-20251001-v1:0")
    stubber = Stubber(bedrock._client)
    stubber.add_client_error("converse", service_error_code=code, http_status_code=status, service_message=message)
    use(monkeypatch, bedrock)
    job = upload(s3, TABLE.pdf())
    capsys.readouterr()
    with stubber:
        deliver(job)
    stubber.assert_no_pending_responses()  # one call: a refusal is not retried
    assert outcome(s3, job)[0]["error"]["code"] == "model_unavailable"
    failures = emitted(capsys, "ModelFailures")
    assert {d.get("reason") for d in failures} == {None, reason}
    assert all(d["kind"] == "result" for d in failures if "reason" in d)


@pytest.mark.parametrize("message", [
    "Input is too long for requested model.",  # the knowledge-center article above
    "The model returned the following errors: Input is too long for requested model.",
])
def test_an_input_too_long_for_the_model_is_the_documents_fault_and_does_not_page(s3, monkeypatch, capsys,
                                                                                 message):
    """A 100-page PDF of dense text passes every check before the call and still exceeds
    the model's context: Bedrock answers ValidationException for it as for a wrong model
    id, but only the model id is ours. The job ends document_too_long, counted with the
    other inputs the model cannot take, and the paging ModelFailures stays at zero."""
    from botocore.stub import Stubber

    from functions.process.providers import BedrockProvider

    bedrock = BedrockProvider("eu.anthropic.claude-haiku-4-5-20251001-v1:0")
    stubber = Stubber(bedrock._client)
    stubber.add_client_error("converse", service_error_code="ValidationException", http_status_code=400,
                             service_message=message)
    use(monkeypatch, bedrock)
    job = upload(s3, TABLE.pdf())
    capsys.readouterr()
    with stubber:
        deliver(job)
    stubber.assert_no_pending_responses()  # never retried: the same input fails the same way
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert outcome(s3, job)[0]["error"]["code"] == "document_too_long"
    assert [(d["kind"], d["reason"]) for d in documents if "DocumentsRefused" in d and "reason" in d] == [
        ("result", "model_input_too_long")]
    assert not [d for d in documents if "ModelFailures" in d]


def test_retries_back_off_exponentially_from_half_a_second_up_to_twenty_with_jitter(s3, monkeypatch, capsys, process_clock):
    from botocore.exceptions import ReadTimeoutError

    model = use(monkeypatch, StubModel(*[throttled()] * 7, ReadTimeoutError(endpoint_url="https://bedrock"), VALID))
    clock, slept, jitter = [1000.0], [], []
    process_clock(monotonic=lambda: clock[0])

    def sleep(seconds):
        slept.append(seconds)
        clock[0] += seconds

    def uniform(low, high):
        jitter.append((low, high))
        return high  # the longest pause jitter allows

    process_clock(sleep=sleep)
    monkeypatch.setattr(process_module.random, "uniform", uniform)
    job = upload(s3, TABLE.pdf())
    capsys.readouterr()
    deliver(job, remaining_ms=900_000)
    assert outcome(s3, job)[0]["status"] == "completed" and model.calls == 9
    assert slept == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 20.0, 20.0]
    assert set(jitter) == {(0.5, 1.0)}  # each pause between half and all of the backoff
    retries = emitted(capsys, "ModelRetries")
    assert sorted(d["reason"] for d in retries if "reason" in d) == ["ReadTimeoutError"] + ["ThrottlingException"] * 7


@pytest.mark.parametrize("budget_s, pauses", [(2.5, []), (2.6, [0.5])])
def test_a_retry_that_would_end_within_a_second_of_the_deadline_is_not_started(s3, monkeypatch, budget_s, pauses, process_clock):
    """A throttled call that took 1 s, then a 0.5 s pause: the next call would start with
    less than a second before the deadline, so the job fails now instead of pausing."""
    clock, slept = [1000.0], []

    class SlowThrottled(StubModel):
        def converse(self, **kwargs):
            clock[0] += 1.0
            return super().converse(**kwargs)

    model = use(monkeypatch, SlowThrottled(throttled()))
    process_clock(monotonic=lambda: clock[0])
    monkeypatch.setattr(process_module.random, "uniform", lambda low, high: high)

    def sleep(seconds):
        slept.append(seconds)
        clock[0] += seconds

    process_clock(sleep=sleep)
    job = upload(s3, TABLE.pdf())
    deliver(job, remaining_ms=int((process_module.OUTCOME_MARGIN_S + budget_s) * 1000))
    assert outcome(s3, job)[0]["error"]["code"] == "model_unavailable"
    assert model.calls == 1 and slept == pauses  # after the pause, 1.1 s is too little for a call


# -- usage records: what analytics learns of each finished job --------------------------

def usage_items():
    return boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test").scan(
        FilterExpression="begins_with(PK, :p)", ExpressionAttributeValues={":p": "USAGE#"})["Items"]


def test_a_finished_job_writes_its_usage_record_and_nothing_of_its_content(s3, monkeypatch):
    use(monkeypatch, StubModel(VALID))
    job = upload(s3, TABLE.pdf())
    deliver(job)
    (item,) = usage_items()
    assert item["PK"] == f"USAGE#{USER}" and item["SK"] == f"JOB#{job.value}"
    assert (item["job_kind"], item["outcome"], item["model_id"]) == ("lab_report", "completed", "stub-model")
    assert (item["input_tokens"], item["output_tokens"]) == (10, 5) and item["latency_ms"] >= 0
    assert "error_code" not in item and set(item) <= set(usage.ATTRIBUTES)
    assert (item["input_type"], item["page_count"], item["observation_count"]) == ("pdf", 1, 1)  # VALID has one
    assert 0 < int(item["ttl"]) - time.time() <= usage.TTL_SECONDS  # expires by the table's TTL
    assert "Hemoglobin" not in repr(item) and "11.2" not in repr(item)
    assert outcome(s3, job)[0]["result"]["observation_count"] == 1


def test_a_document_with_nothing_recognised_completes_and_its_record_and_result_say_so(s3, monkeypatch):
    """Issue 26: read, nothing recognised (the offline analyser on a two-page letter): the
    job completes with a count of 0 the app and the analysts can both see."""
    from fpdf import FPDF

    from local.offline.provider import OfflineProvider

    use(monkeypatch, OfflineProvider())
    pdf = FPDF()
    pdf.set_font("Helvetica", size=10)
    for text in ("Dear patient, your appointment is on Monday.", "Please bring your insurance card."):
        pdf.add_page()
        pdf.cell(0, 6, text)
    job = upload(s3, bytes(pdf.output()))
    deliver(job)
    result, meta = outcome(s3, job)
    assert meta == {"status": "completed"} and result["result"]["observations"] == []
    assert result["result"]["observation_count"] == 0 and result["result"]["document_type"] == "other"
    (item,) = usage_items()
    assert (item["outcome"], item["input_type"], item["page_count"], item["observation_count"]) == (
        "completed", "pdf", 2, 0)


@pytest.mark.parametrize("content_type, input_type", [("image/png", "screenshot"), ("image/jpeg", "photo"),
                                                      ("application/pdf", "pdf")])
def test_a_refused_file_records_its_declared_type_and_no_counts(s3, monkeypatch, content_type, input_type):
    use(monkeypatch, StubModel(VALID))
    deliver(upload(s3, b"neither a PDF nor an image", content_type=content_type))
    (item,) = usage_items()
    assert (item["outcome"], item["error_code"], item["input_type"]) == ("failed", "unsupported_document", input_type)
    assert "page_count" not in item and "observation_count" not in item


def test_a_failed_job_records_its_error_code_and_no_model_when_none_was_called(s3, monkeypatch):
    model = use(monkeypatch, StubModel(VALID))
    job = upload(s3, b"not a pdf at all")
    deliver(job)
    (item,) = usage_items()
    assert model.calls == 0
    assert (item["outcome"], item["error_code"], item["input_tokens"], item["latency_ms"]) == (
        "failed", "unsupported_document", 0, 0)
    assert "model_id" not in item


@pytest.mark.parametrize("kind, job_kind", [("chat", "chat"), ("report", "doctor_report")])
def test_chat_and_report_jobs_are_recorded_by_kind(s3, monkeypatch, kind, job_kind):
    use(monkeypatch, StubModel(throttled("AccessDeniedException")))
    job = upload(s3, kind=kind, payload={"message": "hi"} if kind == "chat" else {
        "results": [{"date": "2026-01-10", "result": {"observations": []}}]})
    deliver(job)
    (item,) = usage_items()
    assert (item["job_kind"], item["outcome"], item["error_code"]) == (job_kind, "failed", "model_unavailable")
    assert not {"input_type", "page_count", "observation_count"} & set(item)  # no document of their own


def test_a_retried_delivery_writes_no_second_record_and_a_deleted_account_none(s3, monkeypatch):
    use(monkeypatch, StubModel(VALID))
    job = upload(s3, TABLE.pdf())
    deliver(job)
    s3.put_object(Bucket=BUCKET, Key=job.incoming, Body=TABLE.pdf(), ContentType="application/pdf")
    deliver(job)  # S3 delivers again: the outcome is there, nothing more is written
    assert len(usage_items()) == 1
    other = upload(s3, TABLE.pdf())
    boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test").delete_item(
        Key={"PK": f"USER#{USER}", "SK": "PROFILE"})
    deliver(other)
    assert [i["SK"] for i in usage_items()] == [f"JOB#{job.value}"]


def test_when_the_usage_record_cannot_be_written_the_job_is_retried_with_its_outcome_unwritten(s3, monkeypatch):
    """The record comes before the outcome: a failure propagates (Lambda retries the event,
    keeping the claim) instead of leaving a finished job that analytics never sees."""
    use(monkeypatch, StubModel(VALID))
    job = upload(s3, TABLE.pdf())
    monkeypatch.setattr(usage, "write", lambda item: (_ for _ in ()).throw(
        ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}}, "PutItem")))
    with pytest.raises(ClientError):
        deliver(job)
    assert incoming_exists(s3, job) and "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=job.outgoing)


# -- cleanup: a tombstone makes the job gone at once ---------------------------------------

def test_after_cleanup_a_job_is_not_found_at_once_even_inside_the_upload_window(s3, monkeypatch):
    use(monkeypatch, StubModel(VALID))
    pending = jobs.new_job_id("result", USER)
    assert jobs.state(pending).status == "pending"
    jobs.delete(pending)
    assert jobs.state(pending).status == "not_found" and jobs.outcome_or_state(pending) == (
        None, jobs.JobState("not_found"))
    done = upload(s3, TABLE.pdf())
    deliver(done)
    jobs.delete(done)
    assert jobs.outcome_or_state(done) == (None, jobs.JobState("not_found"))
    assert s3.get_object(Bucket=BUCKET, Key=done.outgoing)["Body"].read() == b""  # the result is gone
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=done.claim)


def test_an_upload_landing_after_cleanup_is_never_analysed(s3, monkeypatch, capsys):
    model = use(monkeypatch, StubModel(VALID))
    job = jobs.new_job_id("result", USER)
    jobs.delete(job)  # the app gave up on the job before its upload landed
    s3.put_object(Bucket=BUCKET, Key=job.incoming, Body=TABLE.pdf(), ContentType="application/pdf")
    deliver(job)
    assert model.calls == 0 and not incoming_exists(s3, job) and usage_items() == []
    assert jobs.state(job).status == "not_found"
    assert '"reason":"cleaned_up"' in capsys.readouterr().out.replace(" ", "")


def test_a_job_cleaned_up_while_it_ran_does_not_come_back(s3, monkeypatch):
    job = upload(s3, kind="chat", payload={"message": "hi"})

    class CleanedMeanwhile(StubModel):
        def converse(self, **kwargs):
            jobs.delete(job)  # DELETE .../cleanup while the model answers
            return super().converse(**kwargs)

    use(monkeypatch, CleanedMeanwhile({"message": "an answer"}))
    deliver(job)
    assert jobs.outcome_or_state(job) == (None, jobs.JobState("not_found"))


OLDER_RESULT = {  # a result stored by an older app: no confidence, model or disclaimer, a number without its text
    "document_type": "lab_report", "summary": "One value.", "legacy_field": {"anything": [1, 2]},
    "observations": [{"name": "Potassium", "value": 5.9, "unit": "mmol/L", "flag": "high", "extra": "x"}]}


@pytest.mark.parametrize("kind, payload", [
    ("chat", {"message": "What about my potassium?", "context": {"results": [OLDER_RESULT]}}),
    ("report", {"results": [{"date": "2026-01-10", "result": OLDER_RESULT},
                            {"date": "2026-02-10", "result": {"observations": []}}]}),
])
def test_an_older_result_shape_still_gets_an_answer(s3, monkeypatch, kind, payload):
    from local.offline.provider import OfflineProvider

    use(monkeypatch, OfflineProvider())
    job = upload(s3, kind=kind, payload=payload)
    deliver(job)
    result, meta = outcome(s3, job)
    assert meta == {"status": "completed"}, result
    text = json.dumps(result)
    assert "Potassium" in text and "5.9" in text
    if kind == "report":
        assert result["result"]["abnormal_findings"][0]["value_text"] == "5.9"


@pytest.mark.parametrize("observation", [
    {"value": 5.9},                                        # no name: nothing to talk about
    {"name": "x" * 121},                                   # the result's own size caps stay
    {"name": "Potassium", "flag": "dangerous"},            # a flag the contract does not have
    {"name": "Potassium", "value": "5.9"},                 # a number as text
])
def test_what_is_used_is_still_validated(s3, monkeypatch, observation):
    use(monkeypatch, StubModel({"message": "unused"}))
    job = upload(s3, kind="chat", payload={"message": "hi", "context": {"results": [{"observations": [observation]}]}})
    deliver(job)
    assert outcome(s3, job)[0]["error"]["code"] == "invalid_request"


def test_an_invalid_reply_is_logged_with_its_kind_and_every_call_timed_in_milliseconds(s3, monkeypatch, capsys,
                                                                                      caplog):
    use(monkeypatch, StubModel({"document_type": "nonsense"}))
    job = upload(s3, TABLE.pdf())
    capsys.readouterr()
    deliver(job)
    assert outcome(s3, job)[0]["error"]["code"] == "invalid_model_reply"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    # counted apart from the paging ModelFailures: a misleading document makes one too
    assert [d["kind"] for d in lines if "RepliesRejected" in d and "kind" in d] == ["result"]
    assert not [d for d in lines if "ModelFailures" in d]
    warnings = [r for r in caplog.records if r.getMessage() == "model reply failed validation"]
    assert [(w.levelname, w.job_kind) for w in warnings] == [("WARNING", "result")]
    units = {m["Name"]: m["Unit"] for line in lines if "_aws" in line
             for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["ModelLatency"] == "Milliseconds"


def test_every_metric_a_job_emits_is_the_one_the_catalog_declares(s3, monkeypatch, capsys):
    """Alarms and dashboards read the catalog's names: a metric emitted under another name
    or breakdown would leave them on a stream nothing writes (a completed job, a refused
    input, a misread flag, failures, a retry, a photo, a duplicate and a stray key cover
    every metric)."""
    from functions.catalog import CATALOG

    (process_fn,) = [fn for fn in CATALOG if fn.name == "process"]
    base = ("function", "service", "stack")
    declared = {(m.name, base) for m in process_fn.custom_metrics} | {
        (m.name, tuple(sorted((*base, *m.breakdown)))) for m in process_fn.custom_metrics if m.breakdown}
    use(monkeypatch, StubModel(VALID))
    deliver(upload(s3, TABLE.pdf()))
    deliver(upload(s3, b"not a pdf"))
    misread = {**VALID, "observations": [{**VALID["observations"][0], "flag": "normal"}]}  # 11.2 < 12.0
    use(monkeypatch, StubModel(misread))
    deliver(upload(s3, TABLE.pdf()))
    use(monkeypatch, StubModel(throttled("AccessDeniedException")))
    deliver(upload(s3, TABLE.pdf()))
    taken = upload(s3, TABLE.pdf())
    jobs.claim(taken, "another-delivery")  # S3 delivered it twice: the other copy holds it
    deliver(taken)
    use(monkeypatch, StubModel(throttled(), {"summary": 3}))  # retried, then a reply that fails validation
    deliver(upload(s3, png_photo(), content_type="image/png"))
    s3.put_object(Bucket=BUCKET, Key="incoming/not-a-job", Body=b"x")
    process_module.handler({"Records": [{"s3": {"object": {"key": "incoming/not-a-job"}}}]}, FakeContext())
    use(monkeypatch, StubModel(VALID))
    deliver(upload(s3, TABLE.pdf(), user=canary_account()))
    from local import emf  # the metrics as CloudWatch extracts them from the log lines

    data = [d for line in capsys.readouterr().out.splitlines() for d in emf.parse(line)]
    streams = {(d.name, tuple(sorted(d.dimensions))) for d in data}
    assert {name for name, _ in streams} == {m.name for m in process_fn.custom_metrics}
    assert streams <= declared, streams - declared
    jobs_by = {tuple(sorted(d)) for n, d in streams if n == "Jobs"}
    assert ("function", "kind", "outcome", "service", "stack") in jobs_by
    assert not [d for d in data if "None" in d.dimensions.values()]  # no dimension lost its value
    assert {d.dimensions["kind"] for d in data if d.name == "DuplicateDeliveries" and "kind" in d.dimensions} == {
        "result"}
    outcomes = {(d.dimensions["kind"], d.dimensions["outcome"]) for d in data if d.name == "Jobs"
                and "outcome" in d.dimensions}
    assert outcomes == {("result", "completed"), ("result", "failed")}


def png_photo() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.linear_gradient("L").resize((400, 300)).convert("RGB").save(out, format="PNG")
    return out.getvalue()


def test_failures_are_logged_with_their_kind_and_code(s3, monkeypatch, log_lines):
    use(monkeypatch, StubModel(throttled("AccessDeniedException")))
    deliver(upload(s3, TABLE.pdf()))
    use(monkeypatch, StubModel({"summary": 3}))
    deliver(upload(s3, TABLE.pdf()))
    logged = log_lines()
    (refused,) = [r for r in logged if r["message"] == "model call refused"]
    (invalid,) = [r for r in logged if r["message"] == "model reply failed validation"]
    assert (refused["error_code"], invalid["job_kind"]) == ("AccessDeniedException", "result")


def test_a_refused_input_is_logged_with_its_kind_code_and_reason(s3, monkeypatch, log_lines):
    use(monkeypatch, StubModel(VALID))
    deliver(upload(s3, b"not a pdf"))
    (line,) = [r for r in log_lines() if r["message"] == "job input refused"]
    assert (line["job_kind"], line["error_code"], line["reason"]) == ("result", "unsupported_document",
                                                                      "not_declared_type")
    (finished,) = [r for r in log_lines() if r["message"] == "job finished"]
    assert (finished["job_kind"], finished["status"], finished["error_code"]) == ("result", "failed",
                                                                                  "unsupported_document")


def canary_account() -> str:
    from functions.common.canary import CANARY_USER_ID

    boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test").put_item(
        Item={"PK": f"USER#{CANARY_USER_ID}", "SK": "PROFILE", "created_at": "2026-01-01T00:00:00Z"})
    return CANARY_USER_ID


def test_the_canarys_jobs_count_apart_from_the_users_jobs_but_its_model_failures_do_not(s3, monkeypatch, capsys):
    """Jobs is product use (the executive dashboard's jobs finished): the synthetic user's
    job is CanaryJobs instead. ModelFailures, which its critical alarm and process-model-failures
    need, counts it as any job."""
    from local import emf

    canary = canary_account()
    use(monkeypatch, StubModel(VALID))
    capsys.readouterr()
    deliver(upload(s3, TABLE.pdf(), user=canary))
    data = [d for line in capsys.readouterr().out.splitlines() for d in emf.parse(line)]
    assert not [d for d in data if d.name == "Jobs"]
    assert [d.dimensions["outcome"] for d in data if d.name == "CanaryJobs" and "outcome" in d.dimensions] == [
        "completed"]
    deliver(upload(s3, TABLE.pdf()))  # a user's job: Jobs, not CanaryJobs
    data = [d for line in capsys.readouterr().out.splitlines() for d in emf.parse(line)]
    assert [d.name for d in data if d.name in ("Jobs", "CanaryJobs") and "outcome" in d.dimensions] == ["Jobs"]
    use(monkeypatch, StubModel(throttled("AccessDeniedException")))
    deliver(upload(s3, TABLE.pdf(), user=canary))
    data = [d for line in capsys.readouterr().out.splitlines() for d in emf.parse(line)]
    assert [d.dimensions.get("reason") for d in data if d.name == "ModelFailures" and "reason" in d.dimensions] == [
        "access_denied"]
    assert [d.dimensions["outcome"] for d in data if d.name == "CanaryJobs" and "outcome" in d.dimensions] == [
        "failed"]
