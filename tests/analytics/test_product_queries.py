"""The product owner's questions (issue 28): each named query on a generated March, with
the numbers worked out by hand from the scenario, and the glossary's definitions shared by
the queries."""

from datetime import date

import boto3
import pytest

from analytics_queries import glossary, load, local
from functions.common import usage as records
from functions.stream_processor import handler as processor
from tests.conftest import FakeContext
from tests.analytics.test_pipeline import reads_through_the_window
from tests.fixtures.stream import profile, record, usage, usage_record

BUCKET = "serenya-test-events"
A, B, C, D, E = (f"{n * 8}-0000-0000-0000-000000000000" for n in "abcde")
LIST_PRICES = (("p.monthly", 9990, "EUR", 1), ("p.yearly", 89990, "EUR", 12))
COMMISSION = 15
QUERIES = {q.name: q for q in load()}
W1, W2, W3 = date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)  # Mondays


def ticket(user, job, content_type, when):
    item = records.ticket(user, job, content_type, now=_epoch(when), analytics_id=user)  # as tests/fixtures/stream
    return usage_record(item, when=when)


def job(user, kind, when, uploaded, outcome="completed", error=None, latency_ms=100, job="1", **document):
    item = usage(user, kind, outcome, error, latency_ms=latency_ms, job=job, finished_at=f"{when}.000Z",
                 uploaded_at=f"{uploaded}.000Z", **document)
    return usage_record(item, when=when)


def _epoch(when):
    from datetime import datetime, timezone

    return datetime.fromisoformat(when).replace(tzinfo=timezone.utc).timestamp()


def scenario() -> list[dict]:
    """March 2026. Week of 03-02: A, B, C register. A: a PDF with 5 values 3 h after
    registering (60 s end to end), chats on 03-03 and 03-10. B: a photo with nothing
    recognised, then a PDF with 3 values 60 h after registering. C: a PDF that fails
    unreadable, a screenshot that fails model_unavailable, a ticket never used, a sign-in on
    03-16. Week of 03-09: D registers, a PDF with 8 values 2 h later, premium through Apple
    (9.99 EUR), a doctor report, deleted 03-20. E registers, premium through Google (yearly,
    no price sent: list price 89.99), signs in 03-16 and 03-24, expires 03-25."""
    a, c, d, e = profile(A), profile(C), profile(D), profile(E)
    premium = {"type": "premium", "status": "active"}
    d_premium = {**d, "current_subscription": premium, "subscriptions": {"apple:o1": {
        **premium, "provider": "apple", "product_id": "p.monthly", "charged_ms": 1, "price_milli": 9990,
        "currency": "EUR"}}}
    e_premium = {**e, "current_subscription": premium, "subscriptions": {"google:t1": {
        **premium, "provider": "google", "product_id": "p.yearly", "charged_ms": 1}}}
    e_in = {**e_premium, "session": {"id": "s1"}}
    e_again = {**e_in, "session": {"id": "s2"}}
    return [
        record("INSERT", A, new=a, when="2026-03-02T09:00:00"),
        record("INSERT", B, new=profile(B), when="2026-03-02T10:00:00"),
        ticket(A, "t1", "application/pdf", "2026-03-02T10:00:00"),
        ticket(B, "t2", "image/jpeg", "2026-03-02T11:00:00"),
        job(B, "lab_report", "2026-03-02T11:05:00", "2026-03-02T11:04:30", latency_ms=20_000, job="2",
            input_type="photo", page_count=1, observation_count=0),
        job(A, "lab_report", "2026-03-02T12:00:00", "2026-03-02T11:59:00", latency_ms=40_000, job="1",
            input_type="pdf", page_count=2, observation_count=5),
        record("INSERT", C, new=c, when="2026-03-03T10:00:00"),
        job(A, "chat", "2026-03-03T09:00:00", "2026-03-03T08:59:58", job="3"),
        ticket(C, "t3", "application/pdf", "2026-03-03T10:30:00"),
        job(C, "lab_report", "2026-03-03T10:31:00", "2026-03-03T10:30:50", "failed", "unreadable_document",
            latency_ms=0, job="4", input_type="pdf"),
        ticket(C, "t4", "image/png", "2026-03-03T11:00:00"),
        job(C, "lab_report", "2026-03-03T11:02:00", "2026-03-03T11:01:00", "failed", "model_unavailable",
            latency_ms=50_000, job="5", input_type="screenshot", page_count=1),
        ticket(B, "t5", "application/pdf", "2026-03-04T21:00:00"),
        job(B, "lab_report", "2026-03-04T22:00:00", "2026-03-04T21:58:00", latency_ms=90_000, job="6",
            input_type="pdf", page_count=3, observation_count=3),
        ticket(C, "t6", "image/jpeg", "2026-03-05T09:00:00"),
        record("INSERT", D, new=d, when="2026-03-09T08:00:00"),
        record("INSERT", E, new=e, when="2026-03-09T09:00:00"),
        ticket(D, "t7", "application/pdf", "2026-03-09T09:00:00"),
        job(D, "lab_report", "2026-03-09T10:00:00", "2026-03-09T09:58:20", latency_ms=60_000, job="7",
            input_type="pdf", page_count=1, observation_count=8),
        record("MODIFY", D, old=d, new=d_premium, when="2026-03-09T12:00:00"),
        job(A, "chat", "2026-03-10T09:00:00", "2026-03-10T08:59:56", job="8"),
        job(D, "doctor_report", "2026-03-10T10:00:00", "2026-03-10T09:59:40", latency_ms=15_000, job="9"),
        record("MODIFY", E, old=e, new=e_premium, when="2026-03-11T12:00:00"),
        record("MODIFY", C, old=c, new={**c, "session": {"id": "s1"}}, when="2026-03-16T08:00:00"),
        record("MODIFY", E, old=e_premium, new=e_in, when="2026-03-16T09:00:00"),
        record("REMOVE", D, old=d_premium, when="2026-03-20T12:00:00"),
        record("MODIFY", E, old=e_in, new=e_again, when="2026-03-24T09:00:00"),
        record("MODIFY", E, old=e_again, new={**e_again, "current_subscription": {"type": "free", "status": "expired"}},
               when="2026-03-25T12:00:00"),
    ]


@pytest.fixture
def dataset(aws_env, tmp_path):
    s3 = boto3.client("s3", region_name="eu-west-1")
    events = scenario()
    for start in range(0, len(events), 7):  # in batches, and one of them twice: duplicates
        assert processor.handler({"Records": events[start:start + 7]}, FakeContext()) == {"batchItemFailures": []}
    processor.handler({"Records": events[7:14]}, FakeContext())
    return local.download(s3, BUCKET, tmp_path)


def run(name, root):
    return local.run(QUERIES[name], ["2026-03-01", "2026-03-31"], root, LIST_PRICES, COMMISSION)[1]


def test_time_from_registration_to_the_first_result(dataset):
    # A 3 h, B 60 h (its photo found nothing: not a first result), C none; D 2 h, E none
    assert run("time_to_first_result", dataset) == [(W1, 3, 2, 3.0, 60.0), (W2, 2, 1, 2.0, 2.0)]


def test_failures_by_error_code_and_by_input_type(dataset):
    assert run("failures_by_code", dataset) == [("2026-03", "lab_report", "model_unavailable", 1, 16.7),
                                                ("2026-03", "lab_report", "unreadable_document", 1, 16.7)]
    # B's photo completed (nothing found), C's screenshot failed
    assert run("failures_by_input_type", dataset) == [
        ("2026-03", "pdf", 4, 3, 1, 25.0, "unreadable_document"), ("2026-03", "photo", 1, 1, 0, 0.0, None),
        ("2026-03", "screenshot", 1, 0, 1, 100.0, "model_unavailable")]


def test_documents_completed_with_nothing_found(dataset):
    assert run("documents_without_values", dataset) == [(W1, "pdf", 2, 0, 0.0), (W1, "photo", 1, 1, 100.0),
                                                        (W2, "pdf", 1, 0, 0.0)]


def test_deletions_per_week(dataset):
    assert run("deletions_weekly", dataset) == [(W1, 3, 0, 3), (W2, 2, 0, 2), (W3, 0, 1, -1)]


def test_premium_subscribers_per_day_and_recurring_revenue_net_of_commission(dataset):
    # D premium 03-09 until deleted 03-20; E premium 03-11 until it expired 03-25
    assert run("active_subscribers_daily", dataset) == [
        ("2026-03-02", 0), ("2026-03-03", 0), ("2026-03-04", 0), ("2026-03-05", 0), ("2026-03-09", 1),
        ("2026-03-10", 1), ("2026-03-11", 2), ("2026-03-16", 2), ("2026-03-20", 1), ("2026-03-24", 1),
        ("2026-03-25", 0)]
    # D's 9.99 (Apple's price) + E's yearly 89.99 (the list price) / 12 = 7.4992 gross, less 15%
    assert run("mrr_monthly", dataset) == [("2026-03", "EUR", 2, 17.49, 15, 14.87)]
    mrr = QUERIES["mrr_monthly"]
    # E's year pays in each of its months, from the month billed, and never after
    assert local.run(mrr, ["2026-03-01", "2026-04-30"], dataset, LIST_PRICES, COMMISSION)[1] == [
        ("2026-03", "EUR", 2, 17.49, 15, 14.87), ("2026-04", "EUR", 1, 7.5, 15, 6.37)]
    # a range 11 months on still reads the charge (its last month), and 12 months on nothing
    assert local.run(mrr, ["2027-02-01", "2027-03-31"], dataset, LIST_PRICES, COMMISSION)[1] == [
        ("2027-02", "EUR", 1, 7.5, 15, 6.37)]
    # a yearly plan's twelve months add up to its price
    year = local.run(mrr, ["2026-03-01", "2027-03-31"], dataset, LIST_PRICES, COMMISSION)[1]
    assert round(sum(row[3] for row in year), 2) == round(9.99 + 12 * 7.5, 2) and len(year) == 12


def test_the_upload_funnel(dataset):
    # week 1: 6 tickets (C's last one unused), 5 files, 3 completed, 2 with values
    assert run("upload_funnel", dataset) == [(W1, 6, 5, 3, 2, 83.3, 50.0), (W2, 1, 1, 1, 1, 100.0, 100.0)]


def test_chat_questions_per_active_user(dataset):
    assert run("chat_per_active_user", dataset) == [("2026-03", 2, 1, 5, 0.4)]


def test_end_to_end_processing_time_median_and_p95(dataset):
    # week 1's lab reports took 10, 30, 60, 60 and 120 s: median the 3rd, p95 the 5th
    assert run("processing_time_p95", dataset) == [
        (W1, "chat", 1, 2.0, 2.0, 0.1), (W1, "lab_report", 5, 60.0, 120.0, 40.0),
        (W2, "chat", 1, 4.0, 4.0, 0.1), (W2, "doctor_report", 1, 20.0, 20.0, 15.0),
        (W2, "lab_report", 1, 100.0, 100.0, 60.0)]


def test_cohort_retention_counts_any_activity_with_the_cohorts_size(dataset):
    # A active in week 1 by a chat, C in week 2 by a sign-in; E signs in in weeks 1 and 2
    # (its plan changes are not activity); D's deletion is not activity
    assert run("cohort_retention", dataset) == [
        (W1, 3, 0, 3, 100.0), (W1, 3, 1, 1, 33.3), (W1, 3, 2, 1, 33.3),
        (W2, 2, 0, 2, 100.0), (W2, 2, 1, 1, 50.0), (W2, 2, 2, 1, 50.0)]
    retention = run("weekly_retention", dataset)
    assert retention == [(w, n, users) for w, _, n, users, _ in run("cohort_retention", dataset)]


def test_active_users_have_one_definition():
    for name, query in QUERIES.items():
        if name in glossary.ACTIVE_QUERIES:
            assert glossary.ACTIVE_FILTER in query.sql, name
        # no query counts activity with another list of event types
        assert "'signed_in', 'user_registered'" not in query.sql, name
    assert set(glossary.ACTIVE_QUERIES) <= set(QUERIES)


def test_every_query_reads_through_the_dedup_window_and_prints_dates_as_dates(dataset):
    for name, query in QUERIES.items():
        assert reads_through_the_window(query), name
        if query.parameters != ("from_date", "to_date"):
            continue
        for row in run(name, dataset):
            assert not any(hasattr(v, "hour") for v in row), (name, row)  # no timestamp where a date is meant


# -- `make analytics`: formats, ad-hoc SQL, an unknown user ----------------------------------

def cli(capsys, *argv):
    from analytics_queries.__main__ import main

    code = main([*argv, "--prices-stack", "dev"])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_prints_csv_and_json_with_dates_as_dates(dataset, capsys):
    import csv
    import io
    import json

    code, out, _ = cli(capsys, "deletions_weekly", "2026-03-01", "2026-03-31", "--dir", str(dataset), "--format", "csv")
    assert code == 0 and list(csv.reader(io.StringIO(out))) == [
        ["week", "registrations", "deletions", "net_accounts"], ["2026-03-02", "3", "0", "3"],
        ["2026-03-09", "2", "0", "2"], ["2026-03-16", "0", "1", "-1"]]
    code, out, _ = cli(capsys, "mrr_monthly", "2026-03-01", "2026-03-31", "--dir", str(dataset), "--format", "json")
    # the dev stack's commission (Pulumi.dev.yaml); its list prices know no "p.yearly"
    assert code == 0 and json.loads(out) == [
        {"month": "2026-03", "currency": "EUR", "paying_subscribers": 1, "gross_revenue": 9.99,
         "commission_percent": 15, "net_revenue": 8.49},
        {"month": "2026-03", "currency": "unpriced", "paying_subscribers": 1, "gross_revenue": None,
         "commission_percent": 15, "net_revenue": None}]


def test_ad_hoc_sql_reads_the_same_tables_and_nothing_else_runs(dataset, capsys):
    import json

    sql = ("SELECT event_type, count(*) AS events FROM audit_events WHERE event_date BETWEEN '2026-03-01' "
           "AND '2026-03-31' AND event_type = 'upload_ticket_issued' GROUP BY event_type")
    code, out, _ = cli(capsys, "--sql", sql, "--dir", str(dataset), "--format", "json")
    assert code == 0 and json.loads(out) == [{"event_type": "upload_ticket_issued", "events": 7}]
    for statement in ("DROP TABLE audit_events", "DELETE FROM audit_events", "INSERT INTO audit_events VALUES (1)",
                      "SELECT 1; DROP TABLE audit_events", "COPY audit_events TO 'x.csv'"):
        with pytest.raises(SystemExit) as refused:
            cli(capsys, "--sql", statement, "--dir", str(dataset))
        assert refused.value.code == 2
        err = capsys.readouterr().err
        assert "only a SELECT or WITH query" in err or "exactly one statement" in err, statement
    code, _, err = cli(capsys, "--sql", "SELECT nope FROM audit_events", "--dir", str(dataset))
    assert code == 2 and "nope" in err


def test_ad_hoc_sql_reads_the_lake_and_no_other_file_of_the_machine(dataset, capsys, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "secret.csv"
    outside.write_text("secret\n42\n")
    for reader in ("read_csv", "read_text", "read_blob", "read_parquet", "read_json"):
        code, out, err = cli(capsys, "--sql", f"SELECT * FROM {reader}('{outside}')", "--dir", str(dataset))
        assert code == 2 and "42" not in out and "Permission" in err, (reader, out, err)
    code, _, err = cli(capsys, "--sql", "SELECT current_setting('enable_external_access') AS on", "--dir",
                       str(dataset), "--format", "csv")
    assert code == 0
    code, out, _ = cli(capsys, "--sql", "SELECT count(*) AS n FROM audit_events", "--dir", str(dataset))
    assert code == 0 and "(1 rows)" in out  # the lake itself still reads


def test_an_unknown_analytics_id_in_the_timeline_says_so(dataset, capsys):
    unknown = "ffffffff-0000-0000-0000-000000000000"
    options = ("--analytics-id", "--dir", str(dataset))
    code, out, err = cli(capsys, "user_timeline", "2026-03-01", "2026-03-31", unknown, *options)
    assert code == 0 and "(0 rows)" in out and f"no event in the lake names analytics id {unknown}" in err
    code, out, err = cli(capsys, "user_timeline", "2026-04-01", "2026-04-30", A, *options)
    assert "(0 rows)" in out and "none in this date range" in err
    code, out, err = cli(capsys, "user_timeline", "2026-03-01", "2026-03-31", A, *options)
    assert "user_registered" in out and err == ""
