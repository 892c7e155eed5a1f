"""The stream processor and compaction against moto, and every named query on DuckDB
over events written by the real processor."""

import io
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest

from analytics import local
from analytics.queries import load
from analytics.schema import SCHEMA
from functions.compaction.handler import compact
from functions.stream_processor import handler as processor
from tests.conftest import FakeContext
from tests.fixtures.stream import profile, record

BUCKET = "serenya-test-events"
A, B, C, D = (f"{n}{n}{n}{n}{n}{n}{n}{n}-0000-0000-0000-000000000000" for n in "abcd")


def objects(s3, prefix="audit/"):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


def rows(s3):
    return [r for key in objects(s3) for r in pq.read_table(io.BytesIO(
        s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())).to_pylist()]


@pytest.fixture
def s3(aws_env):
    return boto3.client("s3", region_name="eu-west-1")


def deliver(records):
    return processor.handler({"Records": records}, FakeContext())


def test_a_batch_becomes_one_parquet_file_per_day(s3):
    batch = [record("INSERT", A, new=profile(A), when="2026-03-02T10:00:00"),
             record("INSERT", B, new=profile(B), when="2026-03-03T09:00:00")]
    assert deliver(batch) == {"batchItemFailures": []}
    keys = objects(s3)
    assert [k.split("/")[1] for k in keys] == ["event_date=2026-03-02", "event_date=2026-03-03"]
    first, last = batch[0]["dynamodb"]["SequenceNumber"], batch[-1]["dynamodb"]["SequenceNumber"]
    assert all(k.endswith(f"-{first}-{last}.parquet") for k in keys)
    table = pq.read_table(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read()))
    assert table.schema.equals(SCHEMA) and pq.ParquetFile(io.BytesIO(
        s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read())).metadata.row_group(0).column(0).compression == "ZSTD"


def test_a_retried_batch_overwrites_itself(s3):
    batch = [record("INSERT", A, new=profile(A)), record("REMOVE", A, old=profile(A))]
    deliver(batch)
    deliver(batch)
    assert len(objects(s3)) == 1 and len(rows(s3)) == 4  # registration, 2 consents, deletion


def test_a_failing_record_is_reported_and_nothing_after_it_is_written(s3, monkeypatch):
    good, poisoned, later = (record("INSERT", u, new=profile(u)) for u in (A, B, C))
    real = processor.audit.derive
    monkeypatch.setattr(processor.audit, "derive", lambda r, t=None: (_ for _ in ()).throw(ValueError("bad"))
                        if r is poisoned else real(r, t))
    answer = deliver([good, poisoned, later])
    assert answer == {"batchItemFailures": [{"itemIdentifier": poisoned["dynamodb"]["SequenceNumber"]}]}
    assert {r["user_id"] for r in rows(s3)} == {A}  # C will come again with the retry from B


def test_compaction_merges_deduplicates_and_is_safe_to_rerun(s3):
    day = "2026-03-02"
    r1, r2 = record("INSERT", A, new=profile(A), when=f"{day}T10:00:00"), record(
        "INSERT", B, new=profile(B), when=f"{day}T11:00:00")
    deliver([r1])
    deliver([r2])
    deliver([r1, r2])  # a redelivered range: the same events again, in another file
    before = {r["event_id"] for r in rows(s3)}
    assert len(objects(s3)) == 3
    result = compact(day)
    assert objects(s3) == [f"audit/event_date={day}/compacted.parquet"]
    assert result["duplicates_removed"] == 6 and {r["event_id"] for r in rows(s3)} == before
    assert len(rows(s3)) == len(before)
    assert compact(day) == {"date": day, "files": 1, "merged": 0}  # nothing left to do
    deliver([record("INSERT", C, new=profile(C), when=f"{day}T12:00:00")])  # a late arrival
    compact(day)
    assert len(rows(s3)) == len(before) + 3 and len(objects(s3)) == 1


# -- the named queries on a generated dataset ------------------------------------------

def scenario() -> list[list[dict]]:
    """March: A, B, C register; A and B upgrade; A churns in April; D registers in April.
    Sign-ins spread over days and platforms; one batch is delivered twice."""
    a, b, c, d = (profile(u) for u in (A, B, C, D))
    android = {"platform": "android", "device_id": "x"}
    premium = {"type": "premium", "status": "active"}
    return [
        [record("INSERT", A, new=a, when="2026-03-02T09:00:00"), record("INSERT", B, new=b, when="2026-03-02T10:00:00"),
         record("INSERT", C, new=c, when="2026-03-03T10:00:00")],
        [record("MODIFY", A, old=a, new={**a, "session": {"id": "s1"}}, when="2026-03-03T08:00:00"),
         record("MODIFY", B, old=b, new={**b, "session": {"id": "s1"}, "device": android}, when="2026-03-03T09:00:00"),
         record("MODIFY", A, old=a, new={**a, "current_subscription": premium}, when="2026-03-10T12:00:00"),
         record("MODIFY", B, old=b, new={**b, "current_subscription": premium}, when="2026-03-20T12:00:00")],
        [record("MODIFY", A, old={**a, "current_subscription": premium},
                new={**a, "current_subscription": {"type": "free", "status": "expired"}}, when="2026-04-15T12:00:00"),
         record("INSERT", D, new={**d, "device": android}, when="2026-04-06T10:00:00"),
         record("MODIFY", A, old={**a, "session": {"id": "s1"}}, new={**a, "session": {"id": "s2"}},
                when="2026-04-13T08:00:00")],
    ]


@pytest.fixture
def dataset(s3, tmp_path):
    batches = scenario()
    for batch in batches + [batches[1]]:  # the second batch arrives twice
        deliver(batch)
    return local.download(s3, BUCKET, tmp_path)


QUERIES = {q.name: q for q in load()}


def run(name, root: Path, *params):
    return local.run(QUERIES[name], ["2026-03-01", "2026-04-30", *params], root)[1]


def test_every_query_filters_on_the_partition():
    assert set(QUERIES) == {"daily_registrations", "daily_active_users", "monthly_active_users",
                            "conversion_by_cohort", "churn", "weekly_retention", "signins_by_platform",
                            "user_timeline"}
    for query in QUERIES.values():
        assert "WHERE event_date BETWEEN ? AND ?" in query.sql and query.parameters[:2] == ("from_date", "to_date")


def test_registrations_and_active_users(dataset):
    assert run("daily_registrations", dataset) == [("2026-03-02", 2), ("2026-03-03", 1), ("2026-04-06", 1)]
    assert run("daily_active_users", dataset) == [("2026-03-02", 2), ("2026-03-03", 3), ("2026-04-06", 1),
                                                  ("2026-04-13", 1)]
    assert run("monthly_active_users", dataset) == [("2026-03", 3), ("2026-04", 2)]


def test_conversion_churn_and_platforms(dataset):
    assert run("conversion_by_cohort", dataset) == [("2026-03", 3, 2, 66.7), ("2026-04", 1, 0, 0.0)]
    assert run("churn", dataset) == [("2026-04", "expired", 1)]
    assert run("signins_by_platform", dataset) == [("2026-03-03", "android", 1), ("2026-03-03", "ios", 1),
                                                   ("2026-04-13", "ios", 1)]


def test_retention_and_timeline(dataset):
    retained = {(str(w.date()), n, users) for w, n, users in run("weekly_retention", dataset)}
    assert retained == {("2026-03-02", 0, 2), ("2026-03-02", 6, 1)}
    timeline = [r[1] for r in run("user_timeline", dataset, A)]
    assert timeline == ["consent_updated", "consent_updated", "user_registered", "signed_in",
                        "subscription_changed", "signed_in", "subscription_changed"]


def test_a_date_range_reads_only_its_partitions(dataset):
    assert local.run(QUERIES["daily_registrations"], ["2026-04-01", "2026-04-30"], dataset)[1] == [("2026-04-06", 1)]


def test_compaction_takes_its_day_from_the_schedule_so_a_replayed_event_compacts_the_same_day():
    """EventBridge scheduled events carry their `time` (https://docs.aws.amazon.com/eventbridge/latest/
    userguide/eb-run-lambda-schedule.html); the runbook's redrive replays the event days later."""
    from functions.compaction.handler import day_to_compact

    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "time": "2026-03-02T01:30:00Z"}
    assert day_to_compact(scheduled) == "2026-03-01"
    assert day_to_compact({**scheduled, "date": "2026-02-14"}) == "2026-02-14"
    with pytest.raises(ValueError):
        day_to_compact({"date": "2026-02-14/../x"})
