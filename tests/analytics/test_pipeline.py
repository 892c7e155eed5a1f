"""The stream processor and compaction against moto, and every named query on DuckDB
over events written by the real processor."""

import io
import json
import uuid
from collections import Counter
from datetime import date
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest

from analytics.schema import SCHEMA
from analytics_queries import load, local
from functions.compaction.handler import compact
from functions.stream_processor import handler as processor
from tests.conftest import FakeContext
from tests.fixtures.stream import profile, record, usage, usage_record

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
    monkeypatch.setattr(processor.audit, "derive", lambda r, t=None, u=None: (_ for _ in ()).throw(
        ValueError("bad")) if r is poisoned else real(r, t, u))
    answer = deliver([good, poisoned, later])
    assert answer == {"batchItemFailures": [{"itemIdentifier": poisoned["dynamodb"]["SequenceNumber"]}]}
    assert {r["analytics_id"] for r in rows(s3)} == {A}  # C will come again with the retry from B


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

PREMIUM = {"type": "premium", "status": "active"}
MONTHLY, YEARLY, LEGACY = "p.monthly", "p.yearly", "p.legacy"
LIST_PRICES = ((MONTHLY, 9990, "EUR", 1), (YEARLY, 89990, "EUR", 12))


def entry(store, product, **stamps):
    return {"type": "premium", "status": "active", "provider": store, "product_id": product, **stamps}


def scenario() -> list[list[dict]]:
    """March: A, B, C register; A and B upgrade (A through Apple at 9.99 EUR, B through
    Google, which sends no price: the yearly list price); A churns in April, renews once
    before and is refunded after; D registers in April and buys a product with no list
    price. Jobs: A a lab report (and a failed one) and a chat answer, then a doctor
    report; B a doctor report that fails, then a lab report after upgrading; D a lab
    report. Sign-ins spread over days and platforms; one batch is delivered twice."""
    a, b, c, d = (profile(u) for u in (A, B, C, D))
    android = {"platform": "android", "device_id": "x"}
    apple = {"apple:o1": entry("apple", MONTHLY, charged_ms=1, price_milli=9990, currency="EUR")}
    renewed = {"apple:o1": entry("apple", MONTHLY, charged_ms=2, price_milli=9990, currency="EUR")}
    refunded = {"apple:o1": {**entry("apple", MONTHLY, refunded_ms=3, price_milli=9990, currency="EUR"),
                             "type": "free", "status": "revoked"}}
    a_premium = {**a, "current_subscription": PREMIUM, "subscriptions": apple}
    a_expired = {**a, "current_subscription": {"type": "free", "status": "expired"}, "subscriptions": renewed}
    return [
        [record("INSERT", A, new=a, when="2026-03-02T09:00:00"), record("INSERT", B, new=b, when="2026-03-02T10:00:00"),
         record("INSERT", C, new=c, when="2026-03-03T10:00:00")],
        [record("MODIFY", A, old=a, new={**a, "session": {"id": "s1"}}, when="2026-03-03T08:00:00"),
         record("MODIFY", B, old=b, new={**b, "session": {"id": "s1"}, "device": android}, when="2026-03-03T09:00:00"),
         usage_record(usage(A, "lab_report", input_tokens=1000, output_tokens=200, latency_ms=100, job="1",
                            input_type="pdf", page_count=2, observation_count=9), when="2026-03-05T10:00:00"),
         usage_record(usage(A, "lab_report", "failed", "unreadable_document", model_id=None, latency_ms=0,
                            input_tokens=0, output_tokens=0, job="2"), when="2026-03-05T11:00:00"),
         usage_record(usage(A, "chat", input_tokens=300, output_tokens=100, latency_ms=50, job="3"),
                      when="2026-03-05T12:00:00"),
         record("MODIFY", A, old=a, new=a_premium, when="2026-03-10T12:00:00"),
         usage_record(usage(A, "doctor_report", input_tokens=2000, output_tokens=800, latency_ms=200, job="4"),
                      when="2026-03-12T12:00:00"),
         record("MODIFY", B, old=b, new={**b, "current_subscription": PREMIUM,
                                         "subscriptions": {"google:t1": entry("google", YEARLY, charged_ms=1)}},
                when="2026-03-20T12:00:00"),
         usage_record(usage(B, "doctor_report", "failed", "model_unavailable", latency_ms=5000, input_tokens=0,
                            output_tokens=0, job="5"), when="2026-03-21T12:00:00"),
         usage_record(usage(B, "lab_report", input_tokens=500, output_tokens=100, latency_ms=80, job="6",
                            input_type="image", page_count=1, observation_count=0), when="2026-03-25T12:00:00")],
        [record("MODIFY", A, old=a_premium, new={**a_premium, "subscriptions": renewed}, when="2026-04-10T12:00:00"),
         record("MODIFY", A, old={**a_premium, "subscriptions": renewed}, new=a_expired, when="2026-04-15T12:00:00"),
         record("MODIFY", A, old=a_expired, new={**a_expired, "subscriptions": refunded,
                                                "current_subscription": {"type": "free", "status": "revoked"}},
                when="2026-04-20T12:00:00"),
         record("INSERT", D, new={**d, "device": android}, when="2026-04-06T10:00:00"),
         usage_record(usage(D, "lab_report", model_id="serenya-offline-1", input_tokens=700, output_tokens=150,
                            latency_ms=10, job="7"), when="2026-04-07T10:00:00"),
         record("MODIFY", D, old={**d, "device": android}, new={**d, "device": android, "current_subscription": PREMIUM,
                                                               "subscriptions": {"google:t2": entry(
                                                                   "google", LEGACY, charged_ms=4)}},
                when="2026-04-08T10:00:00"),
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
    return local.run(QUERIES[name], ["2026-03-01", "2026-04-30", *params], root, LIST_PRICES)[1]


def test_every_query_filters_on_the_partition():
    assert set(QUERIES) == {"daily_registrations", "daily_active_users", "monthly_active_users",
                            "conversion_by_cohort", "churn", "weekly_retention", "signins_by_platform",
                            "user_timeline", "documents_processed_daily", "premium_usage_weekly",
                            "activation_funnel", "first_sign_in", "model_tokens_daily", "revenue_by_month",
                            # issue 28's (tests/analytics/test_product_queries.py)
                            "time_to_first_result", "failures_by_code", "failures_by_input_type",
                            "documents_without_values", "deletions_weekly", "active_subscribers_daily",
                            "mrr_monthly", "upload_funnel", "chat_per_active_user", "processing_time_p95",
                            "cohort_retention"}
    for query in QUERIES.values():
        assert reads_through_the_window(query), query.name

# mrr_monthly reads 11 months before from_date (a yearly payment made then still pays in
# the range), from the same two parameters.
MRR_WINDOW = ("WHERE a.event_date BETWEEN date_format(date_add('month', -11, b.first_month), '%Y-%m-%d')\n"
              "                           AND date_format(b.last_day, '%Y-%m-%d')")


def reads_through_the_window(query) -> bool:
    window = MRR_WINDOW if query.name == "mrr_monthly" else "WHERE event_date BETWEEN ? AND ?"
    return window in query.sql and query.parameters[:2] == ("from_date", "to_date")


def test_registrations_and_active_users(dataset):
    assert run("daily_registrations", dataset) == [("2026-03-02", 2), ("2026-03-03", 1), ("2026-04-06", 1)]
    # active: signed in (onboarding included) or finished a job
    assert run("daily_active_users", dataset) == [
        ("2026-03-02", 2), ("2026-03-03", 3), ("2026-03-05", 1), ("2026-03-12", 1), ("2026-03-21", 1),
        ("2026-03-25", 1), ("2026-04-06", 1), ("2026-04-07", 1), ("2026-04-13", 1)]
    assert run("monthly_active_users", dataset) == [("2026-03", 3), ("2026-04", 2)]


def test_conversion_churn_and_platforms(dataset):
    assert run("conversion_by_cohort", dataset) == [("2026-03", 3, 2, 66.7), ("2026-04", 1, 1, 100.0)]
    assert run("churn", dataset) == [("2026-04", "expired", 1)]
    assert run("signins_by_platform", dataset) == [("2026-03-03", "android", 1), ("2026-03-03", "ios", 1),
                                                   ("2026-04-13", "ios", 1)]


def test_retention_and_timeline(dataset):
    # any activity (the glossary's): A registered, used documents in weeks 0 and 1, signed in
    # in week 6; B registered, signed in, used documents in weeks 0, 2 and 3; C registered
    assert run("weekly_retention", dataset) == [
        (date(2026, 3, 2), 0, 3), (date(2026, 3, 2), 1, 1), (date(2026, 3, 2), 2, 1), (date(2026, 3, 2), 3, 1),
        (date(2026, 3, 2), 6, 1), (date(2026, 4, 6), 0, 1)]
    timeline = [(str(r[0].date()), r[1], r[-3]) for r in run("user_timeline", dataset, A)]
    assert timeline == [
        ("2026-03-02", "consent_updated", None), ("2026-03-02", "consent_updated", None),
        ("2026-03-02", "user_registered", None), ("2026-03-03", "signed_in", None),
        ("2026-03-05", "document_processed", "lab_report"), ("2026-03-05", "document_processed", "lab_report"),
        ("2026-03-05", "document_processed", "chat"),
        ("2026-03-10", "subscription_changed", None), ("2026-03-10", "subscription_charged", None),
        ("2026-03-12", "document_processed", "doctor_report"), ("2026-03-12", "premium_feature_used", "doctor_report"),
        ("2026-04-10", "subscription_charged", None), ("2026-04-13", "signed_in", None),
        ("2026-04-15", "subscription_changed", None),
        ("2026-04-20", "subscription_changed", None), ("2026-04-20", "subscription_refunded", None)]


def test_documents_processed_per_day_by_kind_with_failure_rate(dataset):
    # 03-25: a lab report completed with nothing recognised; 04-07's record predates the count (null)
    assert run("documents_processed_daily", dataset) == [
        ("2026-03-05", "chat", 1, 1, 0, 0.0, 0), ("2026-03-05", "lab_report", 2, 1, 1, 50.0, 0),
        ("2026-03-12", "doctor_report", 1, 1, 0, 0.0, 0), ("2026-03-21", "doctor_report", 1, 0, 1, 100.0, 0),
        ("2026-03-25", "lab_report", 1, 1, 0, 0.0, 1), ("2026-04-07", "lab_report", 1, 1, 0, 0.0, 0)]


def test_premium_feature_usage_per_week(dataset):
    assert run("premium_usage_weekly", dataset) == [(date(2026, 3, 9), "doctor_report", 1, 1, 1),
                                                    (date(2026, 3, 16), "doctor_report", 1, 1, 0)]


def test_activation_funnel_by_weekly_cohort(dataset):
    # A: a document 03-05, then premium 03-10. B's only lab report (03-25) found nothing: no
    # first document. C did nothing. D: a document 04-07 (no count: before schema 3), premium 04-08.
    assert run("activation_funnel", dataset) == [(date(2026, 3, 2), 3, 1, 1, 33.3, 33.3),
                                                 (date(2026, 4, 6), 1, 1, 1, 100.0, 100.0)]


def test_first_sign_in_after_onboarding(dataset):
    assert run("first_sign_in", dataset) == [("2026-03-02", 2, 2, 100.0, 23.0), ("2026-03-03", 1, 0, 0.0, None),
                                             ("2026-04-06", 1, 0, 0.0, None)]


def test_model_tokens_per_day(dataset):
    assert run("model_tokens_daily", dataset) == [
        ("2026-03-05", "m", 2, 1300, 300, 75.0), ("2026-03-12", "m", 1, 2000, 800, 200.0),
        ("2026-03-21", "m", 1, 0, 0, 5000.0), ("2026-03-25", "m", 1, 500, 100, 80.0),
        ("2026-04-07", "serenya-offline-1", 1, 700, 150, 10.0)]


def test_revenue_per_month_from_store_prices_and_list_prices(dataset):
    # March: Apple's 9.99 + B's yearly at its list price 89.99; April: A's renewal 9.99
    # and its refund -9.99; D's product has no list price and is shown as such.
    assert run("revenue_by_month", dataset) == [("2026-03", "EUR", 2, 0, 1, 99.98), ("2026-04", "EUR", 1, 1, 0, 0.0),
                                                ("2026-04", "unpriced", 1, 0, 0, None)]


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


@pytest.mark.parametrize("dates, problem", [
    (("2026-04-30", "2026-04-01"), "from_date 2026-04-30 is after to_date 2026-04-01"),
    (("2026-4-1", "2026-04-30"), "from_date '2026-4-1' is not a date as yyyy-MM-dd"),
    (("2026-04-01", "2026-02-30"), "to_date '2026-02-30' is not a date"),
    (("yesterday", "today"), "from_date 'yesterday' is not a date"),
])
def test_a_malformed_or_reversed_range_is_an_error_not_an_empty_answer(dataset, dates, problem):
    with pytest.raises(ValueError, match=problem):
        local.run(QUERIES["daily_registrations"], list(dates), dataset)


def test_three_changes_within_one_second_keep_their_order(s3, tmp_path):
    """The stream stamps whole seconds: the item's own milliseconds order the changes, and
    where they are equal (or missing), the stream's sequence number does, compared as a
    number (a longer sequence number is a later one)."""
    plans = [("premium", "active"), ("premium", "grace_period"), ("free", "expired")]
    states = [profile(A)] + [profile(A, current_subscription={"type": t, "status": st}) for t, st in plans]
    # the item's milliseconds, then none: the sequence alone
    with_ms = [record("MODIFY", A, old={**states[i], "updated_at": "x"},
                      new={**states[i + 1], "updated_at": f"2026-03-02T10:00:00.{100 * (i + 1):03d}Z"},
                      when="2026-03-02T10:00:00") for i in range(3)]
    sequences = ["9" * 21, "1" + "0" * 21, "1" + "0" * 20 + "1"]
    without_ms = [record("MODIFY", B, old={**states[i], "analytics_id": B},
                         new={**states[i + 1], "analytics_id": B, "updated_at": "2026-03-01T00:00:00Z"},
                         when="2026-03-03T10:00:00", sequence=sequences[i]) for i in range(3)]
    deliver(with_ms)
    deliver(without_ms)
    root = local.download(s3, BUCKET, tmp_path)
    a = run("user_timeline", root, A)
    assert [r[0].microsecond // 1000 for r in a] == [100, 200, 300]
    assert [(r[5], r[6]) for r in a] == plans  # the last row is the final state
    assert [(r[5], r[6]) for r in run("user_timeline", root, B)] == plans


def test_the_cache_folder_is_reused_and_cleaned(s3, tmp_path):
    deliver([record("INSERT", A, new=profile(A), when="2026-03-02T10:00:00")])
    cache = tmp_path / "cache"
    first = local.download(s3, BUCKET, cache)
    files = sorted(p.relative_to(cache) for p in cache.rglob("*.parquet"))
    fetched = []
    real = s3.download_file
    s3.download_file = lambda *args, **kwargs: fetched.append(args[1]) or real(*args, **kwargs)
    assert local.download(s3, BUCKET, cache) == first and fetched == []  # nothing changed: nothing fetched
    compact("2026-03-02")  # replaces the day's files with one
    local.download(s3, BUCKET, cache)
    assert sorted(p.relative_to(cache) for p in cache.rglob("*.parquet")) == [
        Path("audit/event_date=2026-03-02/compacted.parquet")] != files
    assert fetched == ["audit/event_date=2026-03-02/compacted.parquet"]
    assert run("daily_registrations", cache) == [("2026-03-02", 1)]


def test_files_of_the_previous_schema_version_are_read_and_compacted_with_null_new_columns(s3, tmp_path):
    """Schemas 2, 3 and 4 added columns: a day written before holds files without them.
    Compaction and the local runner read them by name, the new columns null (as Athena does)."""
    import pyarrow as pa

    from analytics import writer
    from analytics.events import derive

    events = derive(record("INSERT", A, new=profile(A), when="2026-03-02T10:00:00"))
    v1 = pa.schema([f for f in SCHEMA if f.name not in ("store", "product_id", "price_milli", "currency", "job_kind",
                                                        "outcome", "error_code", "model_id", "latency_ms",
                                                        "input_tokens", "output_tokens", "input_type",
                                                        "page_count", "observation_count",
                                                        "consent_answer")])
    old = pa.Table.from_pylist([{k: v for k, v in e.items() if k in v1.names} for e in events], schema=v1)
    s3.put_object(Bucket=BUCKET, Key="audit/event_date=2026-03-02/old-1-2.parquet",
                  Body=writer.parquet_bytes(old))
    deliver([usage_record(usage(B, "chat"), when="2026-03-02T11:00:00")])
    assert run("daily_active_users", local.download(s3, BUCKET, tmp_path / "before")) == [("2026-03-02", 2)]
    compact("2026-03-02")
    assert {r["job_kind"] for r in rows(s3)} == {None, "chat"} and len(rows(s3)) == 4
    assert {r["consent_answer"] for r in rows(s3) if r["event_type"] == "consent_updated"} == {None}


def legacy_file(events: list[dict]) -> bytes:
    """A Parquet file as schema 3 wrote it: people named by the app's user id, no consent answer."""
    import pyarrow as pa

    from analytics import writer

    v3 = pa.schema([pa.field("user_id", pa.string(), nullable=False) if f.name == "analytics_id" else f
                    for f in SCHEMA if f.name != "consent_answer"])
    rows = [{**{k: v for k, v in e.items() if k in v3.names}, "user_id": e["analytics_id"]} for e in events]
    return writer.parquet_bytes(pa.Table.from_pylist(rows, schema=v3))


def test_compaction_rewrites_days_written_with_user_ids_so_no_user_id_survives_and_counts_stay(s3):
    """Files from before schema 4 name people by the app's user id. Compaction rewrites such a
    day, a small file or one already compacted, each user id replaced by a keyed hash whose key
    only that run knew: the same person is one id within the day (counts of people and events
    unchanged), the id is no user id, and another run cannot recompute it."""
    from analytics.events import derive

    def day_of(day, *people):
        return [e for u in people for e in derive(record("INSERT", u, new=profile(u), when=f"{day}T10:00:00"))
                + derive(record("MODIFY", u, old=profile(u), new=profile(u, session={"id": "s1"}),
                                when=f"{day}T11:00:00"))]

    first, second = day_of("2026-03-02", A, B), day_of("2026-03-03", A, C)
    s3.put_object(Bucket=BUCKET, Key="audit/event_date=2026-03-02/old-1-2.parquet", Body=legacy_file(first))
    s3.put_object(Bucket=BUCKET, Key="audit/event_date=2026-03-03/compacted.parquet", Body=legacy_file(second))
    deliver([record("INSERT", D, new=profile(D), when="2026-03-02T12:00:00")])  # written since, with its own id

    assert compact("2026-03-02")["merged"] == len(first) + 3
    assert compact("2026-03-03")["merged"] == len(second)  # already compacted, rewritten all the same
    assert compact("2026-03-03") == {"date": "2026-03-03", "files": 1, "merged": 0}  # nothing old left
    assert objects(s3) == ["audit/event_date=2026-03-02/compacted.parquet",
                           "audit/event_date=2026-03-03/compacted.parquet"]
    bodies = [s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in objects(s3)]
    assert all(pq.read_schema(io.BytesIO(b)).equals(SCHEMA) for b in bodies)
    for user_id in (A, B, C):  # in no column, not even in the file's bytes
        assert all(user_id.encode() not in b for b in bodies), user_id
    by_day = {day: [r for r in rows(s3) if str(r["event_time"].date()) == day] for day in ("2026-03-02", "2026-03-03")}
    for day, events in (("2026-03-02", first), ("2026-03-03", second)):
        legacy = [r for r in by_day[day] if r["analytics_id"] != D]
        assert sorted(r["event_id"] for r in legacy) == sorted(e["event_id"] for e in events)
        ids = {e["event_id"]: e["analytics_id"] for e in events}  # the user id each event had
        pseudonyms = {(ids[r["event_id"]], r["analytics_id"]) for r in legacy}
        # one id per person and one person per id: every count of people and events is unchanged
        assert len(pseudonyms) == len({u for u, _ in pseudonyms}) == len({p for _, p in pseudonyms}) == 2
        assert all(str(uuid.UUID(p)) == p for _, p in pseudonyms)
    assert [r["analytics_id"] for r in by_day["2026-03-02"]].count(D) == 3  # schema-4 rows kept as they were
    a_first = {r["analytics_id"] for r in by_day["2026-03-02"] if r["event_type"] == "user_registered"} - {D}
    a_second = {r["analytics_id"] for r in by_day["2026-03-03"] if r["event_type"] == "user_registered"}
    assert not a_first & a_second  # A in two runs: two unrelated ids, nothing to join them on


def test_events_of_an_account_without_an_analytics_id_are_dropped_and_counted_and_its_sign_in_gives_it_one(
        s3, capsys):
    """An account made before analytics ids: its usage record and a deletion before any write
    are not written (the lake never holds a user id) and EventsWithoutAnalyticsId counts
    them by type; the sign-in whose update gives it an id is written under that id."""
    older = {k: v for k, v in profile(A).items() if k != "analytics_id"}
    signed_in = {**older, "analytics_id": D, "session": {"id": "s1"}}
    job = {k: v for k, v in usage(B, "doctor_report").items() if k != "analytics_id"}
    batch = [record("MODIFY", A, old=older, new=signed_in, when="2026-03-02T10:00:00"),
             usage_record(job, when="2026-03-02T11:00:00"),
             record("REMOVE", B, old={k: v for k, v in profile(B).items() if k != "analytics_id"},
                    when="2026-03-02T12:00:00")]
    assert deliver(batch) == {"batchItemFailures": []}
    assert [(r["analytics_id"], r["event_type"]) for r in rows(s3)] == [(D, "signed_in")]
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    dropped = Counter(d["event_type"] for d in docs if "EventsWithoutAnalyticsId" in d and "event_type" in d)
    assert dropped == {"document_processed": 1, "premium_feature_used": 1, "user_deleted": 1}
    assert len([d for d in docs if "EventsWithoutAnalyticsId" in d and "event_type" not in d]) == 3  # totals


class _Clock(FakeContext):
    """A Lambda context whose remaining time drops by `step` ms at each look."""

    def __init__(self, left=300_000, step=0):
        self.left, self.step = left, step

    def get_remaining_time_in_millis(self):
        self.left -= self.step
        return self.left


def test_one_legacy_run_maps_existing_accounts_to_their_analytics_id_and_others_to_one_id_per_person(s3):
    """`{"rewrite_legacy": true}` rewrites every pre-schema-4 day in one run: an account that
    still exists gets its own analytics id back on its old history; a person without one (account
    gone, or never written since) gets one random id for the whole run, the same on every day."""
    from analytics.events import derive
    from functions.compaction.handler import handler

    def day_of(day, *people):
        return [e for u in people for e in derive(record("INSERT", u, new=profile(u), when=f"{day}T10:00:00"))]

    table = boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test")
    table.put_item(Item={"PK": f"USER#{A}", "SK": "PROFILE", "user_id": A, "analytics_id": "aid-of-a"})
    table.put_item(Item={"PK": f"USER#{C}", "SK": "PROFILE", "user_id": C})  # no analytics id yet
    days = {"2026-03-02": (A, B), "2026-03-03": (B, C), "2026-03-04": (A, B, C)}
    for day, people in days.items():
        s3.put_object(Bucket=BUCKET, Key=f"audit/event_date={day}/compacted.parquet",
                      Body=legacy_file(day_of(day, *people)))
    deliver([record("INSERT", D, new=profile(D), when="2026-03-05T12:00:00")])  # schema 4: left alone

    result = handler({"rewrite_legacy": True}, _Clock())
    # the schema-4 day's small file is compacted on the way; the third day names no one new: no lookup
    assert result == {"complete": True, "checked": 4, "days": 4, "compacted": [*days, "2026-03-05"],
                      "account_lookups": 2}
    bodies = [s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in objects(s3)]
    assert all(u.encode() not in b for b in bodies for u in (A, B, C))  # no user id in any byte
    by_person = {}
    for r in rows(s3):
        by_person.setdefault(r["analytics_id"], set()).add(str(r["event_time"].date()))
    assert by_person.pop("aid-of-a") == {"2026-03-02", "2026-03-04"}  # joins the account's current id
    assert by_person.pop(D) == {"2026-03-05"}
    # B and C: one id each across all their days, no more ids than people
    assert sorted(by_person.values(), key=len) == [{"2026-03-03", "2026-03-04"},
                                                   {"2026-03-02", "2026-03-03", "2026-03-04"}]
    assert all(str(uuid.UUID(p)) == p for p in by_person)
    assert handler({"rewrite_legacy": True}, _Clock())["compacted"] == []  # nothing old left


def test_a_legacy_run_stops_before_its_timeout_and_says_what_is_left(s3):
    from analytics.events import derive
    from functions.compaction.handler import handler

    for day in ("2026-03-02", "2026-03-03"):
        s3.put_object(Bucket=BUCKET, Key=f"audit/event_date={day}/compacted.parquet", Body=legacy_file(
            derive(record("INSERT", A, new=profile(A), when=f"{day}T10:00:00"))))
    result = handler({"rewrite_legacy": True}, _Clock(left=100_000, step=30_000))
    assert (result["complete"], result["checked"], result["compacted"]) == (False, 1, ["2026-03-02"])
    assert handler({"rewrite_legacy": True}, _Clock())["compacted"] == ["2026-03-03"]


def test_account_lookups_are_batches_of_100_projected_on_the_ids_the_role_may_read(s3):
    from functions.common import aws as common_aws
    from functions.compaction.handler import Pseudonyms

    table = boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test")
    people = [f"{n:08d}-0000-0000-0000-000000000000" for n in range(250)]
    for u in people[:120]:
        table.put_item(Item={"PK": f"USER#{u}", "SK": "PROFILE", "user_id": u, "analytics_id": f"aid-{u}",
                             "email_enc": b"sealed"})
    sent = []
    client = common_aws.client("dynamodb")
    client.meta.events.register("provide-client-params.dynamodb.BatchGetItem", lambda params, **_: sent.append(params))
    pseudonym = Pseudonyms()
    pseudonym.resolve(set(people))
    pseudonym.resolve(set(people[:10]))  # known already: no request
    assert [len(p["RequestItems"]["serenya-test"]["Keys"]) for p in sent] == [100, 100, 50]
    assert {p["RequestItems"]["serenya-test"]["ProjectionExpression"] for p in sent} == {"PK, SK, analytics_id"}
    assert pseudonym.lookups == 3 and [pseudonym(u) for u in people[:2]] == [f"aid-{u}" for u in people[:2]]
    gone = {pseudonym(u) for u in people[120:]}
    assert len(gone) == 130 and not gone & set(people) and pseudonym(people[200]) == pseudonym(people[200])
