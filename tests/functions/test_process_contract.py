"""What the process function promises beyond its happy paths: an S3 failure reaches
Lambda (which retries, then parks the event), and every Bedrock call forces the
result tool with the request the prompts were written for."""

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from functions.common import jobs
from functions.process import handler as process_module
from functions.process import providers
from tests.functions.test_process import VALID, StubModel, deliver, s3, upload, use  # noqa: F401 (fixture)

BUCKET = "serenya-test-temp"


@pytest.mark.parametrize("code", ["SlowDown", "InternalError", "AccessDenied", "KMS.DisabledException"])
def test_an_s3_failure_reading_the_upload_reaches_lambda(s3, monkeypatch, code):
    model = use(monkeypatch, StubModel(VALID))
    job = upload(s3, payload={})
    real = process_module.aws.client

    class FailingGets:
        def __init__(self, client):
            self._client = client

        def __getattr__(self, name):
            return getattr(self._client, name)

        def get_object(self, **kwargs):
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, "GetObject")

    monkeypatch.setattr(process_module.aws, "client",
                        lambda service: FailingGets(real(service)) if service == "s3" else real(service))
    with pytest.raises(ClientError) as raised:
        deliver(job)
    assert raised.value.response["Error"]["Code"] == code
    monkeypatch.setattr(process_module.aws, "client", real)
    assert model.calls == 0
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=job.outgoing)  # no outcome yet
    assert "Contents" in s3.list_objects_v2(Bucket=BUCKET, Prefix=job.incoming)  # kept for the retry


def test_an_upload_already_removed_ends_the_delivery_quietly(s3, monkeypatch):
    model = use(monkeypatch, StubModel(VALID))
    job = upload(s3, payload={})
    s3.delete_object(Bucket=BUCKET, Key=job.incoming)
    deliver(job)  # NoSuchKey: an earlier delivery finished and removed it; no raise
    assert model.calls == 0


TOOL = {"toolSpec": {"name": "record_result", "description": "d", "inputSchema": {"json": {"type": "object"}}}}
REPLY = {"output": {"message": {"role": "assistant", "content": [
    {"text": "thinking"}, {"toolUse": {"toolUseId": "t1", "name": "other_tool", "input": {"x": 0}}},
    {"toolUse": {"toolUseId": "t2", "name": "record_result", "input": {"x": 1}}}]}},
    "stopReason": "tool_use", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
    "metrics": {"latencyMs": 1}}


@pytest.fixture
def bedrock(monkeypatch):
    """A stubbed bedrock-runtime client; the timeouts the provider asked clients for."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    client = boto3.client("bedrock-runtime", region_name="eu-west-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    asked = []

    def client_for(read_timeout_s):
        asked.append(read_timeout_s)
        return client

    monkeypatch.setattr(providers.BedrockProvider, "_client_for", staticmethod(client_for))
    with Stubber(client) as stubber:
        yield stubber, asked


def test_every_call_forces_the_result_tool_deterministically(bedrock):
    stubber, _ = bedrock
    messages = [{"role": "user", "content": [{"text": "the report"}]}]
    stubber.add_response("converse", REPLY, {
        "modelId": "eu.model-v1", "system": [{"text": "the prompt"}], "messages": messages,
        "toolConfig": {"tools": [TOOL], "toolChoice": {"tool": {"name": "record_result"}}},
        "inferenceConfig": {"maxTokens": 4096, "temperature": 0.0}})
    reply = providers.BedrockProvider("eu.model-v1").converse(system="the prompt", messages=messages, tool=TOOL,
                                                               timeout_s=30)
    stubber.assert_no_pending_responses()
    assert providers.tool_input(reply, "record_result") == {"x": 1}


@pytest.mark.parametrize("timeout_s, client_timeout", [(0.2, 1), (1.9, 1), (2.0, 2), (45.7, 45), (120, 120),
                                                       (121, 120), (10_000, 120)])
def test_each_call_uses_a_client_timed_out_by_the_whole_seconds_left(bedrock, timeout_s, client_timeout):
    stubber, asked = bedrock
    stubber.add_response("converse", REPLY)
    providers.BedrockProvider("m").converse(system="s", messages=[], tool=TOOL, timeout_s=timeout_s)
    assert asked == [providers.MAX_READ_TIMEOUT_S, client_timeout]  # construction, then the call


def test_a_call_without_a_deadline_may_take_the_longest(bedrock):
    stubber, asked = bedrock
    stubber.add_response("converse", REPLY)
    providers.BedrockProvider("m").converse(system="s", messages=[], tool=TOOL)
    assert asked[-1] == providers.MAX_READ_TIMEOUT_S == 120


def test_clients_make_one_attempt_and_connect_within_five_seconds(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    providers.BedrockProvider._client_for.cache_clear()
    try:
        for read, connect in ((1, 1), (4, 4), (5, 5), (30, 5)):
            config = providers.BedrockProvider._client_for(read).meta.config
            assert (config.read_timeout, config.connect_timeout) == (read, connect)
            assert config.retries == {"mode": "standard", "total_max_attempts": 1}
        assert providers.BedrockProvider._client_for(30) is providers.BedrockProvider._client_for(30)
    finally:
        providers.BedrockProvider._client_for.cache_clear()


def test_a_reply_without_the_tool_call_is_a_key_error():
    assert providers.tool_input(REPLY, "record_result") == {"x": 1}
    assert providers.tool_input(REPLY, "other_tool") == {"x": 0}
    for content in ([], [{"text": "prose only"}], [{"toolUse": {"toolUseId": "t", "name": "else", "input": {}}}]):
        with pytest.raises(KeyError):
            providers.tool_input({"output": {"message": {"content": content}}}, "record_result")


def test_bedrock_answers_unless_a_stand_in_is_installed(monkeypatch):
    from local import offline

    monkeypatch.setenv("BEDROCK_MODEL_ID", "eu.anthropic.model-v1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AI_PROVIDER", "offline")  # what once chose the stand-in: an environment never does
    providers._bedrock.cache_clear()
    try:
        assert type(providers.provider()) is providers.BedrockProvider
        assert providers.provider().model_id == "eu.anthropic.model-v1"
        installed = offline.install()
        assert providers.provider() is installed and installed.model_id == "serenya-offline-1"
        providers.install(None)
        assert type(providers.provider()) is providers.BedrockProvider
    finally:
        providers.install(None)
        providers._bedrock.cache_clear()


def test_input_errors_carry_their_code_and_reason():
    error = providers.InputError("unreadable_document", "pdf_encrypted")
    assert (error.code, error.reason, str(error)) == ("unreadable_document", "pdf_encrypted",
                                                      "unreadable_document (pdf_encrypted)")
    bare = providers.InputError("document_too_long")
    assert (bare.code, bare.reason, str(bare)) == ("document_too_long", "document_too_long",
                                                   "document_too_long (document_too_long)")


def test_the_outcome_of_a_job_is_json_with_its_status(s3, monkeypatch):
    use(monkeypatch, StubModel(VALID))
    from tests.fixtures.lab_reports import LIPIDS
    job = upload(s3, body=LIPIDS.pdf())
    deliver(job)
    body = json.loads(s3.get_object(Bucket=BUCKET, Key=job.outgoing)["Body"].read())
    assert body["status"] in ("completed", "failed") and jobs.parse(job.value) == job
