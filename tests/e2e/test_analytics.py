"""Through the local stack: onboarding, sign-in, a subscription change and the product's
use (a lab report, a chat answer, a doctor report) appear as audit events within seconds,
with no medical content, and the named queries answer about them."""

import time
import uuid

import boto3
import pytest

from analytics_queries import load, local
from local.moto_stack import aws_client
from tests.e2e.conftest import DEVICE
from tests.e2e.test_documents import poll, upload
from tests.fixtures.lab_reports import TABLE

QUERIES = {q.name: q for q in load()}


def utc_day(clock=time.time) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(clock()))


class EventDays:
    """The UTC days a test's events can be dated: from the day it started to the day it
    queries. An event's date is the stream record's time (the table's wall clock, which no
    test controls), so a test running across midnight has events on two days; one reading
    "today" when it queries would miss the first day's."""

    def __init__(self, clock=time.time):
        self.clock, self.first = clock, utc_day(clock)

    def window(self) -> list[str]:
        return [self.first, utc_day(self.clock)]


def test_event_days_span_midnight():
    moments = iter([1_798_761_599.5, 1_798_761_600.5])  # 2026-12-31 23:59:59.5, then 2027-01-01 00:00:00.5 UTC
    days = EventDays(lambda: next(moments))
    assert days.window() == ["2026-12-31", "2027-01-01"]


def analytics_id(stack, user_id) -> str:
    """The lake's id of an existing account, as `make analytics` resolves it."""
    return local.analytics_id_of(aws_client("dynamodb", stack.aws_endpoint_url, "eu-west-1"),
                                 stack.program.outputs["table"], user_id)


def timeline_until(stack, user_id, cache, wanted: set[str], seconds: float, days: EventDays) -> list[tuple]:
    """The user's timeline once it holds every `wanted` event type (or the deadline passed),
    from one cache folder the download keeps in step with the bucket."""
    s3 = aws_client("s3", stack.aws_endpoint_url, "eu-west-1")
    bucket = stack.program.outputs["events_bucket"]
    deadline = time.monotonic() + seconds  # the stream poller runs every 0.2 s
    person = analytics_id(stack, user_id)
    while True:
        rows = local.run(QUERIES["user_timeline"], [*days.window(), person], local.download(s3, bucket, cache))[1]
        if wanted <= {row[1] for row in rows} or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def test_account_changes_become_queryable_audit_events(client, stack, tmp_path):
    days = EventDays()
    status, body = client.onboard("apple", "audited-user")
    user_id = body["user"]["id"]
    client.call("POST", "/api/v1/auth/oauth-signin",
                {"provider": "apple", "id_token": client.id_token("apple", "audited-user"), "device": DEVICE})
    assert client.call("POST", "/local/store/apple/notify", {"user_id": user_id, "notification_type": "SUBSCRIBED"})[0] \
        == 200
    rows = timeline_until(stack, user_id, tmp_path / "cache",
                          {"user_registered", "signed_in", "subscription_changed", "subscription_charged"}, 10, days)
    kinds = [row[1] for row in rows]
    assert {"user_registered", "signed_in", "subscription_changed", "subscription_charged"} <= set(kinds), kinds
    charged = next(row for row in rows if row[1] == "subscription_charged")
    assert charged[11:15] == ("apple", stack.program.settings.stores.premium_products[0], 9990, "EUR")
    assert not stack.pollers or not any("stream_processor" in e for p in stack.pollers for e in p.errors)
    registrations = local.run(QUERIES["daily_registrations"], days.window(), tmp_path / "cache")[1]
    assert registrations and sum(row[1] for row in registrations) >= 1


def test_an_account_made_before_analytics_ids_gets_one_at_sign_in_and_the_timeline_ends_with_it(
        client, stack, tmp_path, capsys):
    """An older account has no analytics id: its first sign-in after the deployment gives it a
    random one (in the sign-in's own update), so that sign-in is already in the lake.
    `make analytics user_timeline` takes the user id while the account exists and says
    plainly when it is gone; the person's events stay, under an id nothing links any more."""
    from analytics_queries.__main__ import main

    days = EventDays()
    user_id = client.onboard("google", "older-account")[1]["user"]["id"]
    table = boto3.resource("dynamodb", endpoint_url=stack.aws_endpoint_url, region_name="eu-west-1",
                           aws_access_key_id="local", aws_secret_access_key="local")
    table = table.Table(stack.program.outputs["table"])
    registered = analytics_id(stack, user_id)
    table.update_item(Key={"PK": f"USER#{user_id}", "SK": "PROFILE"}, UpdateExpression="REMOVE analytics_id")
    with pytest.raises(local.NoAccount, match="no analytics id yet"):
        analytics_id(stack, user_id)
    token = client.call("POST", "/api/v1/auth/oauth-signin", {
        "provider": "google", "id_token": client.id_token("google", "older-account"), "device": DEVICE})[1][
        "access_token"]
    assigned = analytics_id(stack, user_id)
    assert str(uuid.UUID(assigned)) == assigned and assigned not in (registered, user_id)
    assert analytics_id(stack, user_id) == assigned  # kept: if_not_exists
    rows = timeline_until(stack, user_id, tmp_path / "cache", {"signed_in"}, 10, days)
    assert [row[1] for row in rows] == ["signed_in"], rows  # the removal made no event; the sign-in did
    window = [*days.window()]
    assert main(["user_timeline", *window, user_id, "--stack", stack.url]) == 0
    assert "signed_in" in capsys.readouterr().out
    assert client.call("DELETE", "/api/v1/user/profile", token=token)[0] == 204
    s3 = aws_client("s3", stack.aws_endpoint_url, "eu-west-1")
    deadline = time.monotonic() + 10
    while True:  # the deletion reaches the lake under the id the account had
        root = local.download(s3, stack.program.outputs["events_bucket"], tmp_path / "cache")
        rows = local.run(QUERIES["user_timeline"], [*window, assigned], root)[1]
        if "user_deleted" in {row[1] for row in rows} or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [row[1] for row in rows] == ["signed_in", "user_deleted"], rows
    assert main(["user_timeline", *window, user_id, "--stack", stack.url]) == 1
    assert "deleted" in capsys.readouterr().err
    assert main(["user_timeline", *window, assigned, "--analytics-id", "--stack", stack.url]) == 0
    assert "user_deleted" in capsys.readouterr().out  # the analyst still counts the deletion
    assert main(["user_timeline", *window, str(uuid.uuid4()), "--stack", stack.url]) == 1
    assert "never existed" in capsys.readouterr().err


def test_a_lab_report_a_chat_answer_and_a_doctor_report_are_usage_events_without_content(client, stack, tmp_path):
    """Done when (issue 13): within a minute, each finished job is a `document_processed`
    event, the doctor report also `premium_feature_used`, carrying kind, outcome, model and
    tokens, and nothing of the documents, questions or answers."""
    days = EventDays()
    token, user_id = (lambda b: (b["access_token"], b["user"]["id"]))(client.onboard("google", "analysed-user")[1])
    ticket, _ = upload(client, token, TABLE.pdf())
    assert poll(client, f"/api/v1/process/status/{ticket['job_id']}", token)[1]["status"] == "completed"
    result = client.call("GET", f"/api/v1/process/result/{ticket['job_id']}", token=token)[1]["result"]
    question = "What does my potassium result mean for me?"
    chat = client.call("POST", "/api/v1/chat/messages", {"message": question, "context": {"results": [result]}},
                       token=token)[1]
    answer = poll(client, f"/api/v1/chat/status/{chat['job_id']}", token)[1]
    assert answer["status"] == "completed"
    assert client.call("POST", "/local/store/google/notify", {"user_id": user_id, "notification_type": 4})[0] == 200
    status, report = client.call("POST", "/api/v1/process/doctor-report",
                                 {"results": [{"date": "2026-01-10", "result": result}]}, token=token)
    assert status == 202, report
    assert poll(client, f"/api/v1/process/status/{report['job_id']}", token)[1]["status"] == "completed"

    rows = timeline_until(stack, user_id, tmp_path / "cache", {"document_processed", "premium_feature_used"}, 60, days)
    processed = sorted((row[15], row[16]) for row in rows if row[1] == "document_processed")
    assert processed == [("chat", "completed"), ("doctor_report", "completed"), ("lab_report", "completed")], rows
    assert [(row[15], row[16]) for row in rows if row[1] == "premium_feature_used"] == [
        ("doctor_report", "completed")]
    # the raw events: model and tokens are there, no value, name, file or question
    root = tmp_path / "cache"
    events = local.connect(root).execute(
        "SELECT * FROM audit_events WHERE analytics_id = ? AND event_type = 'document_processed'",
        [analytics_id(stack, user_id)])
    columns = [d[0] for d in events.description]
    usage = [dict(zip(columns, row)) for row in events.fetchall()]
    assert {e["model_id"] for e in usage} == {"serenya-offline-1"}
    assert all(e["input_tokens"] > 0 and e["output_tokens"] > 0 and e["latency_ms"] >= 0 for e in usage)
    documents = {e["job_kind"]: (e["input_type"], e["page_count"], e["observation_count"]) for e in usage}
    assert documents == {"lab_report": ("pdf", 1, len(result["observations"])), "chat": (None, None, None),
                         "doctor_report": (None, None, None)}
    assert result["observation_count"] == len(result["observations"]) > 0
    text = repr(usage)
    for content in ["Potassium", "Hemoglobin", question, answer["response"]["message"][:40], ticket["job_id"]]:
        assert content not in text, content
    # A lab value is a short number: it may appear by chance inside an id or as a latency,
    # so it must not be any field's text (the counts are numbers by design).
    texts = {str(v) for e in usage for k, v in e.items()
             if v is not None and k not in ("input_tokens", "output_tokens", "latency_ms", "page_count",
                                            "observation_count")}
    for value in (o["value_text"] for o in result["observations"]):
        assert value not in texts, value


def test_the_analytics_command_lists_and_runs_queries(stack, capsys, monkeypatch):
    from analytics_queries.__main__ import main

    assert main(["--list"]) == 0
    listed = capsys.readouterr().out
    assert "user_timeline(from_date, to_date, analytics_id)" in listed
    assert "revenue_by_month(from_date, to_date)" in listed
    today = "2026-11-15"  # any valid day: this checks the command, not what the day holds
    assert main(["daily_registrations", today, today, "--stack", stack.url]) == 0
    assert "registrations" in capsys.readouterr().out
    monkeypatch.setenv("PORT", stack.url.rsplit(":", 1)[1])  # `make run`'s PORT is the default stack
    assert main(["revenue_by_month", today, today]) == 0
    assert "revenue" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["user_timeline", today])  # missing parameters
    for dates in ([today, "2026-13-01"], ["2026-11-30", "2026-11-01"]):
        with pytest.raises(SystemExit):
            main(["daily_registrations", *dates, "--stack", stack.url])
        assert "to_date" in capsys.readouterr().err


def executive_totals(stack) -> dict[str, float]:
    """Each daily bar of the executive dashboard, summed over every day the stack has run
    (seven CloudWatch days locally: minutes of wall time)."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"{stack.url}/local/dashboards/executive/data?start=-P7D", timeout=30) as response:
        widgets = json.loads(response.read())["widgets"]
    return {w["title"]: sum(v for s in w.get("series", []) for v in s["v"] if v is not None)
            for w in widgets if w.get("title", "").endswith(" per day")}


def test_the_executive_dashboard_and_the_named_queries_give_the_same_numbers(client, stack, tmp_path):
    """Issue 28 item 2: on the same traffic, the dashboard's documents processed and
    sign-ins are the numbers of documents_processed_daily and signins_by_platform."""
    token = client.onboard("google", "executive-1")[1]["access_token"]
    client.onboard("apple", "executive-2")
    client.call("POST", "/api/v1/auth/oauth-signin",
                {"provider": "google", "id_token": client.id_token("google", "executive-1"), "device": DEVICE})
    for _ in range(2):
        ticket, _ = upload(client, token, TABLE.pdf())
        assert poll(client, f"/api/v1/process/status/{ticket['job_id']}", token)[1]["status"] == "completed"
    failed, _ = upload(client, token, b"%PDF-1.4 not really a pdf")
    assert poll(client, f"/api/v1/process/status/{failed['job_id']}", token)[1]["status"] == "failed"

    s3 = aws_client("s3", stack.aws_endpoint_url, "eu-west-1")
    bucket, cache = stack.program.outputs["events_bucket"], tmp_path / "cache"
    window = [time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86_400)), utc_day()]  # every day the stack ran
    deadline = time.monotonic() + 30
    while True:
        root = local.download(s3, bucket, cache)
        documents = local.run(QUERIES["documents_processed_daily"], window, root)[1]
        sign_ins = local.run(QUERIES["signins_by_platform"], window, root)[1]
        queried = {"Documents processed per day": sum(row[2] for row in documents),
                   "Sign-ins per day": sum(row[2] for row in sign_ins)}
        shown = executive_totals(stack)
        if all(shown.get(t) == n for t, n in queried.items()) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert {t: shown.get(t) for t in queried} == queried
    assert queried["Documents processed per day"] >= 3 and queried["Sign-ins per day"] >= 1
    assert "Jobs finished per day" not in shown  # the process function's own count is for operations
