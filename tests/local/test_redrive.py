"""The runbooks' redrive procedures, run as written (bash, jq, and tests/local/aws_cli.py
standing in for the AWS CLI) on the failure messages the local stack sends in AWS's
documented shapes (local/triggers.py): an asynchronous invocation's dead-letter message
is the event with its error in attributes, a stream's on-failure record names the shard
and sequence numbers of the batch, which the procedure reads back from the stream.
https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html#invocation-dlq
https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html"""

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analytics import events
from components.procedures import redrive
from tests.conftest import SAMPLE_CATALOG
from tests.fixtures import stream
from tests.local.test_local_stack import aws, handlers, put_items, s3_dispatcher, stack, stream_poller  # noqa: F401

pytestmark = pytest.mark.skipif(shutil.which("jq") is None or shutil.which("bash") is None,
                                reason="the procedures are bash with jq")


def run_procedure(stack, function: str, workdir: Path, invoke_reply: str = "null") -> list[dict]:
    """Runs the function's redrive procedure; returns the `aws lambda invoke` requests it made."""
    fn = next(f for f in SAMPLE_CATALOG if f.name == function)
    procedure = redrive(fn, stack.program.settings)
    bin_dir = workdir / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "aws").write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).with_name("aws_cli.py")}" "$@"\n')
    (bin_dir / "aws").chmod(0o755)
    invocations = workdir / "invocations.jsonl"
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HOME": str(workdir),
           "PYTHONPATH": os.pathsep.join(sys.path), "AWS_ENDPOINT_URL": stack.aws_endpoint_url,
           "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
           "LOCAL_AWS_INVOCATIONS": str(invocations), "LOCAL_AWS_INVOKE_REPLY": invoke_reply}
    done = subprocess.run(["bash", "-eo", "pipefail", "-c", procedure.commands], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in invocations.read_text().splitlines()] if invocations.exists() else []


def queue_is_empty(stack, function: str) -> bool:
    attributes = aws(stack, "sqs").get_queue_attributes(
        QueueUrl=stack.failure_queue_url(function),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return {int(v) for v in attributes.values()} == {0}


def test_the_redrive_of_an_asynchronous_function_invokes_it_with_the_dead_lettered_event(stack, handlers, tmp_path):
    handlers.fail_worker = True
    try:
        aws(stack, "s3").put_object(Bucket=stack.program.outputs["temp_bucket"], Key="incoming/redrive", Body=b"y")
        s3_dispatcher(stack).poll_once()
    finally:
        handlers.fail_worker = False
    [invocation] = run_procedure(stack, "worker", tmp_path)
    failed_event = invocation["payload"]
    # Invoked asynchronously with the S3 notification itself, as its trigger did.
    assert invocation["function"] == stack.program.outputs["functions"]["worker"]
    assert invocation["type"] == "Event"
    assert set(failed_event) == {"Records"}
    assert failed_event["Records"][0]["s3"]["object"]["key"] == "incoming/redrive"
    assert queue_is_empty(stack, "worker")
    # With the cause fixed, the replayed event does what the first delivery should have.
    stack.functions.invoke("worker", failed_event)
    assert ("incoming/redrive", b"y") in handlers.s3_events


def test_the_redrive_of_a_stream_function_replays_the_failed_batch_read_back_from_its_shard(
        stack, handlers, tmp_path):
    poller = stream_poller(stack)
    poller.poll_once()
    handlers.stream_batches.clear()
    handlers.poison = {"ITEM#redrive2"}
    try:
        put_items(stack, "ITEM#redrive1", "ITEM#redrive2", "ITEM#redrive3")
        poller.poll_once()
    finally:
        handlers.poison = set()
    [poisoned] = {json.dumps(b) for b in handlers.stream_batches
                  if [r["dynamodb"]["Keys"]["PK"]["S"] for r in b] == ["ITEM#redrive2"]}
    poisoned = json.loads(poisoned)
    [invocation] = run_procedure(stack, "streamer", tmp_path, invoke_reply='{"batchItemFailures": []}')
    records = invocation["payload"]["Records"]
    assert invocation["function"] == stack.program.outputs["functions"]["streamer"]
    assert invocation["type"] == "RequestResponse"  # as the event source mapping invokes it
    # The batch that failed, not more (the on-failure record's batchSize) nor other records,
    # exactly as Lambda delivered it: times as epoch seconds, not the CLI's ISO 8601 text
    # (the audit events are dated and partitioned by them).
    assert records == poisoned
    assert all(isinstance(r["dynamodb"]["ApproximateCreationDateTime"], (int, float)) for r in records)
    ingested = datetime(2026, 1, 1, tzinfo=UTC)  # a day other than the records'
    for replayed, delivered in zip(records, poisoned, strict=True):
        # An account's sign-up at the times the replay and the first delivery carry.
        signup = stream.record("INSERT", "u1", new=stream.profile("u1"))
        dated = [{**signup, "dynamodb": {**signup["dynamodb"], "ApproximateCreationDateTime":
                                         r["dynamodb"]["ApproximateCreationDateTime"]}} for r in (replayed, delivered)]
        replayed_events, delivered_events = (events.derive(r, ingested) for r in dated)
        assert replayed_events == delivered_events != []
        assert {events.event_date(e) for e in replayed_events} != {"2026-01-01"}
    assert queue_is_empty(stack, "streamer")
    handlers.stream_batches.clear()
    assert stack.functions.invoke("streamer", invocation["payload"]) == {"batchItemFailures": []}
    assert [r["dynamodb"]["Keys"]["PK"]["S"] for r in handlers.stream_batches[0]] == ["ITEM#redrive2"]
