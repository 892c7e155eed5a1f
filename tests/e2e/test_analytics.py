"""Through the local stack: onboarding, sign-in and a subscription change appear as audit
events within seconds, and the named queries answer about them."""

import time

import pytest

from analytics import local
from analytics.queries import load
from local.moto_stack import aws_client
from tests.e2e.conftest import DEVICE


def test_account_changes_become_queryable_audit_events(client, stack, tmp_path):
    status, body = client.onboard("apple", "audited-user")
    user_id = body["user"]["id"]
    client.call("POST", "/api/v1/auth/oauth-signin",
                {"provider": "apple", "id_token": client.id_token("apple", "audited-user"), "device": DEVICE})
    assert client.call("POST", "/local/store/apple/notify", {"user_id": user_id, "notification_type": "SUBSCRIBED"})[0] \
        == 200
    s3 = aws_client("s3", stack.aws_endpoint_url, "eu-west-1")
    bucket = stack.program.outputs["events_bucket"]
    timeline = {q.name: q for q in load()}["user_timeline"]
    today = time.strftime("%Y-%m-%d", time.gmtime())
    deadline = time.monotonic() + 10  # the stream poller runs every 0.2 s
    kinds: list[str] = []
    while time.monotonic() < deadline:
        root = local.download(s3, bucket, tmp_path / str(time.monotonic_ns()))
        kinds = [row[1] for row in local.run(timeline, [today, today, user_id], root)[1]]
        if "subscription_changed" in kinds:
            break
        time.sleep(0.2)
    assert {"user_registered", "signed_in", "subscription_changed"} <= set(kinds), kinds
    assert not stack.pollers or not any("stream_processor" in e for p in stack.pollers for e in p.errors)
    registrations = local.run({q.name: q for q in load()}["daily_registrations"], [today, today], root)[1]
    assert registrations and registrations[0][1] >= 1


def test_the_analytics_command_lists_and_runs_queries(stack, capsys):
    from analytics.__main__ import main

    assert main(["--list"]) == 0
    assert "user_timeline(from_date, to_date, user_id)" in capsys.readouterr().out
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert main(["daily_registrations", today, today, "--stack", stack.url]) == 0
    assert "registrations" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["user_timeline", today])  # missing parameters
