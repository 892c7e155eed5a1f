"""The process function's time and delivery guarantees, with stand-ins that behave like
the services: a model endpoint that really takes time (the real bedrock-runtime client,
its configured timeouts honoured by urllib3), deliveries that really run concurrently,
S3's conditional writes (moto enforces If-None-Match as S3 does)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

from functions.catalog import CATALOG, S3Trigger
from functions.common import jobs
from functions.process import handler as process_module
from functions.process import providers
from functions.process.tasks import chat_task
from tests.conftest import FakeContext
from tests.functions.test_process import BUCKET, USER, StubModel, outcome, s3  # noqa: F401 (fixture: the owner exists)

CHAT = json.dumps({"message": "What does a low ferritin mean?"}).encode()
REPLY = {"output": {"message": {"role": "assistant", "content": [
    {"toolUse": {"toolUseId": "t1", "name": "answer_user", "input": {"message": "It can mean low iron stores."}}}]}},
    "stopReason": "tool_use", "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
    "metrics": {"latencyMs": 1}}


class SlowModel(BaseHTTPRequestHandler):
    """Answers Converse after `delay` seconds, as a busy model does (nothing sent before)."""
    delay = 0.0
    released = threading.Event()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.released.wait(self.delay)
        body = json.dumps(REPLY).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up: exactly what the test wants

    def log_message(self, *args):
        pass


@pytest.fixture
def slow_model(monkeypatch, process_clock):
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowModel)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "eu-west-1",
                       "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": f"http://127.0.0.1:{server.server_port}"}.items():
        monkeypatch.setenv(key, value)
    providers.BedrockProvider._client_for.cache_clear()
    model = providers.BedrockProvider("eu.anthropic.claude-haiku-4-5-20251001-v1:0")
    monkeypatch.setattr(process_module, "provider", lambda: model)
    process_clock(sleep=lambda s: None)
    SlowModel.released.clear()
    yield SlowModel
    SlowModel.released.set()
    server.shutdown()
    providers.BedrockProvider._client_for.cache_clear()


def test_a_slow_model_call_ends_by_the_deadline(slow_model):
    slow_model.delay = 4.0        # longer than the time left; the read timeout is 120 s
    deadline = time.monotonic() + 2.5
    # The 4 s reply is a valid answer: a call that awaited it (before the fix) would return
    # it. Giving up is the proof, with no wall-clock threshold to tune.
    with pytest.raises(process_module.ModelUnavailable):
        process_module.call_model(chat_task(CHAT), deadline)


def test_a_model_call_inside_the_deadline_answers(slow_model):
    slow_model.delay = 0.2
    reply = process_module.call_model(chat_task(CHAT), time.monotonic() + 10)
    assert reply["output"]["message"]["content"][0]["toolUse"]["input"]["message"]


# -- Lambda's asynchronous retries against the job's timeout ---------------------------

def test_async_retries_end_before_the_job_times_out():
    """Lambda retries a failed asynchronous event after 1 then 2 minutes, and starts no
    attempt once the event is older than its maximum age:
    https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html"""
    for fn in CATALOG:
        if isinstance(fn.trigger, S3Trigger):
            r = fn.trigger.retries
            assert r.max_age_s + fn.timeout_s <= jobs.PROCESSING_TIMEOUT_SECONDS, fn.name
            backoff = sum((60, 120)[:r.attempts])
            assert (r.attempts + 1) * fn.timeout_s + backoff <= jobs.PROCESSING_TIMEOUT_SECONDS, fn.name


def test_the_program_sets_the_retries(prod_run):
    configs = {c.inputs["functionName"]: c.inputs
               for c in prod_run.mocks.of_type("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")}
    process = configs["serenya-prod-process"]
    assert (process["maximumRetryAttempts"], process["maximumEventAgeInSeconds"]) == (1, 540)
    assert process["qualifier"] == "$LATEST"
    asynchronous = {f"serenya-prod-{fn.name}" for fn in CATALOG if fn.invoked_asynchronously}
    assert set(configs) == asynchronous


def upload_chat(s3):
    job = jobs.new_job_id("chat", USER)
    s3.put_object(Bucket=BUCKET, Key=job.incoming, Body=CHAT, ContentType="application/json")
    return job


def deliver(job, request_id="req-1", remaining_ms=300_000):
    context = FakeContext()
    context.aws_request_id = request_id
    context.get_remaining_time_in_millis = lambda: remaining_ms
    process_module.handler({"Records": [{"s3": {"object": {"key": job.incoming}}}]}, context)


def test_a_late_attempt_writes_the_timeout_the_job_already_shows(s3, monkeypatch, process_clock):
    model = StubModel({"message": "too late"})
    monkeypatch.setattr(process_module, "provider", lambda: model)
    job = upload_chat(s3)
    process_clock(wall=lambda: time.time() + jobs.PROCESSING_TIMEOUT_SECONDS)
    deliver(job)
    assert model.calls == 0
    assert outcome(s3, job)[0]["error"]["code"] == "processing_timeout" == jobs.state(job).error_code


def test_the_model_deadline_stops_before_the_jobs_timeout(s3, monkeypatch, process_clock):
    """Near the job's 15 minutes, the model gets only the time before it, not the
    function's whole remaining time."""
    seen = []

    class Recording(StubModel):
        def converse(self, *, system, messages, tool, timeout_s=None):
            seen.append(timeout_s)
            return super().converse(system=system, messages=messages, tool=tool)

    monkeypatch.setattr(process_module, "provider", lambda: Recording({"message": "ok"}))
    job = upload_chat(s3)
    left = 60  # seconds before the job reads processing_timeout
    process_clock(wall=lambda: time.time() + jobs.PROCESSING_TIMEOUT_SECONDS - left)
    deliver(job, remaining_ms=300_000)
    assert outcome(s3, job)[0]["status"] == "completed"
    assert seen and seen[0] <= left - process_module.OUTCOME_MARGIN_S + 1


def test_a_terminal_outcome_is_never_replaced(s3):
    job = upload_chat(s3)
    assert jobs.write_outcome(job, jobs.failed(job, "processing_timeout"))
    assert not jobs.write_outcome(job, jobs.completed(job, "response", {"message": "late"}))
    assert outcome(s3, job)[0]["error"]["code"] == "processing_timeout"


# -- repeated deliveries ---------------------------------------------------------------

def test_two_concurrent_deliveries_call_the_model_once(s3, monkeypatch):
    other_finished = threading.Event()

    class Slow(StubModel):
        def converse(self, **kwargs):
            # The model answers only once the other delivery has run its course, so the two
            # always overlap (no sleep to hope for it). Were both to call the model, each
            # would wait for the other until the timeout, and calls == 2 fails the test.
            other_finished.wait(timeout=30)
            kwargs.pop("timeout_s", None)
            return super().converse(**kwargs)

    model = Slow({"message": "Low iron stores."})
    monkeypatch.setattr(process_module, "provider", lambda: model)
    job = upload_chat(s3)
    start = threading.Barrier(2)
    errors = []

    def delivery(request_id):
        try:
            start.wait(timeout=5)
            deliver(job, request_id)
        except Exception as e:  # surfaced below
            errors.append(e)
        finally:
            other_finished.set()

    threads = [threading.Thread(target=delivery, args=(f"req-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors and model.calls == 1
    assert outcome(s3, job)[0]["status"] == "completed"


def test_lambdas_retry_of_the_same_event_may_continue_its_claim(s3, monkeypatch):
    model = StubModel({"message": "Low iron stores."})
    monkeypatch.setattr(process_module, "provider", lambda: model)
    job = upload_chat(s3)
    assert jobs.claim(job, "req-1")           # the first attempt claimed, then crashed
    deliver(job, "req-1")                     # Lambda's retry keeps the request id
    assert model.calls == 1 and outcome(s3, job)[0]["status"] == "completed"


def test_a_second_delivery_leaves_a_claimed_job_alone(s3, monkeypatch):
    model = StubModel({"message": "Low iron stores."})
    monkeypatch.setattr(process_module, "provider", lambda: model)
    job = upload_chat(s3)
    assert jobs.claim(job, "req-1")
    deliver(job, "req-2")
    assert model.calls == 0
    assert "Contents" in s3.list_objects_v2(Bucket=BUCKET, Prefix=job.incoming)  # the claimant finishes it


def test_botocore_makes_one_attempt_per_model_call(slow_model):
    client = providers.BedrockProvider._client_for(5)
    assert client.meta.config.retries["total_max_attempts"] == 1   # `max_attempts: 1` meant 2
    assert (client.meta.config.read_timeout, client.meta.config.connect_timeout) == (5, 5)
