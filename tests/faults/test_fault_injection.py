"""Fault injection: S3 failing under the stream processor, the model failing under the
process function. Nothing is lost, nothing is duplicated, no job stays processing."""

import random

import boto3
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from analytics.events import derive
from analytics_queries import load, local
from functions.common import aws, jobs
from functions.process import handler as process_module
from functions.stream_processor import handler as processor
from tests.conftest import FakeContext
from tests.fixtures.lab_reports import TABLE
from tests.fixtures.stream import profile, record

MAX_ATTEMPTS = 50


def lambda_delivers(batch: list[dict]) -> int:
    """Lambda's stream semantics: a failed invocation retries the same batch; reported item
    failures retry from the first failed record. Returns invocations used."""
    attempts = 0
    while batch:
        attempts += 1
        assert attempts <= MAX_ATTEMPTS, "the batch never went through"
        try:
            answer = processor.handler({"Records": batch}, FakeContext())
        except ClientError:
            continue
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        if not failed:
            return attempts
        first = min(i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] in failed)
        batch = batch[first:]
    return attempts


def test_s3_failing_30_percent_loses_and_duplicates_nothing(aws_env, monkeypatch, tmp_path):
    rng = random.Random(30)
    s3 = aws.client("s3")
    real_put = s3.put_object

    def flaky_put(**kwargs):
        if rng.random() < 0.3:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "injected"}}, "PutObject")
        return real_put(**kwargs)

    monkeypatch.setattr(s3, "put_object", flaky_put)
    users = [f"{i:08d}-0000-0000-0000-000000000000" for i in range(60)]
    records = []
    for i, u in enumerate(users):
        day = f"2026-03-{1 + i % 5:02d}T10:00:00"
        old = profile(u)
        records += [record("INSERT", u, new=old, when=day),
                    record("MODIFY", u, old=old, new={**old, "session": {"id": "s9"}}, when=day)]
    expected = {e["event_id"] for r in records for e in derive(r)}
    invocations = sum(lambda_delivers(records[i:i + 25]) for i in range(0, len(records), 25))
    assert invocations > len(records) // 25  # faults happened and were retried

    root = local.download(boto3.client("s3", region_name="eu-west-1"), "serenya-test-events", tmp_path)
    written = [r["event_id"] for f in root.rglob("*.parquet") for r in pq.read_table(f).to_pylist()]
    assert set(written) == expected  # nothing lost
    dedup = local.connect(root).execute(local.to_duckdb(
        "SELECT count(*), count(DISTINCT event_id) FROM (SELECT *, row_number() OVER (PARTITION BY event_id "
        "ORDER BY ingested_at) AS copy FROM audit_events WHERE event_date BETWEEN '2026-03-01' AND '2026-03-31') "
        "WHERE copy = 1")).fetchone()
    assert dedup == (len(expected), len(expected))  # nothing duplicated, through the dedup pattern
    registrations = local.run({q.name: q for q in load()}["daily_registrations"], ["2026-03-01", "2026-03-31"],
                              root)[1]
    assert sum(n for _, n in registrations) == len(users)


class Faulty:
    model_id = "faulty"

    def __init__(self, fault):
        self.fault, self.calls = fault, 0

    def converse(self, *, system, messages, tool, timeout_s=None):
        self.calls += 1
        raise self.fault


@pytest.mark.parametrize("fault", [
    ClientError({"Error": {"Code": "ThrottlingException", "Message": ""}}, "Converse"),
    ClientError({"Error": {"Code": "InternalServerException", "Message": ""}}, "Converse"),
    ClientError({"Error": {"Code": "ServiceUnavailableException", "Message": ""}}, "Converse"),
    ReadTimeoutError(endpoint_url="https://bedrock-runtime"),
    ClientError({"Error": {"Code": "ValidationException", "Message": ""}}, "Converse"),
], ids=["throttled", "server-error", "unavailable", "timeout", "refused"])
def test_every_model_fault_ends_the_job_failed_within_the_deadline(aws_env, monkeypatch, fault, process_clock):
    clock = [0.0]
    process_clock(monotonic=lambda: clock[0])
    process_clock(sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    model = Faulty(fault)
    monkeypatch.setattr(process_module, "provider", lambda: model)
    s3 = boto3.client("s3", region_name="eu-west-1")
    job = jobs.new_job_id("result", "00000000-0000-4000-8000-000000000000")
    # The job's owner exists: process writes outcomes only for existing accounts.
    boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test").put_item(
        Item={"PK": f"USER#{job.user_id}", "SK": "PROFILE"})
    s3.put_object(Bucket="serenya-test-temp", Key=job.incoming, Body=TABLE.pdf(), ContentType="application/pdf")
    context = FakeContext()
    context.get_remaining_time_in_millis = lambda: 300_000
    process_module.handler({"Records": [{"s3": {"object": {"key": job.incoming}}}]}, context)
    state = jobs.state(job)
    assert (state.status, state.error_code) == ("failed", "model_unavailable")
    assert clock[0] <= 300 - process_module.OUTCOME_MARGIN_S  # inside the function's timeout
    assert "Contents" not in s3.list_objects_v2(Bucket="serenya-test-temp", Prefix="incoming/")
