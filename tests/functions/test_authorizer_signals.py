"""What on-call sees of a refused token: the AuthorizerRejections metric with its reason
(the stream the warning alarm and the errors alarm's subtraction read), one INFO log
line with the reason and never the token; and the method ARN parsed from the left."""

import json
import logging

import pytest

from functions.authorizer.handler import api_resource, handler
from functions.common import tokens, users
from functions.common.observability import logger
from tests.conftest import FakeContext
from tests.functions.test_authorizer import API, event, user  # noqa: F401 (fixture)


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def logs():
    records = Records()
    logger._logger.addHandler(records)
    yield records.records
    logger._logger.removeHandler(records)


def rejections(stdout: str) -> list[dict]:
    """The AuthorizerRejections EMF records printed, as {dimension: value} plus the value."""
    found = []
    for line in stdout.splitlines():
        record = json.loads(line) if line.startswith("{") else {}
        for directive in record.get("_aws", {}).get("CloudWatchMetrics", []):
            if any(m["Name"] == "AuthorizerRejections" for m in directive["Metrics"]):
                for dimensions in directive["Dimensions"]:
                    value = record["AuthorizerRejections"]  # a number, or a list of samples
                    found.append({**{d: record[d] for d in dimensions},
                                  "value": sum(value) if isinstance(value, list) else value})
    return found


def refuse(header, user_id=None):
    with pytest.raises(Exception, match="^Unauthorized$"):
        handler(event(header), FakeContext())


@pytest.mark.parametrize("header, reason", [("", "malformed_header"), ("Basic abc", "malformed_header"),
                                            ("Bearer not-a-jwt", None)])
def test_each_refusal_is_counted_with_its_reason_and_logged_without_the_token(
        aws_env, capsys, logs, header, reason):
    capsys.readouterr()
    refuse(header)
    emitted = rejections(capsys.readouterr().out)
    totals = [r for r in emitted if "reason" not in r]
    by_reason = [r for r in emitted if "reason" in r]
    assert len(totals) == 1 and totals[0]["value"] == 1 and {"service", "stack", "function"} <= set(totals[0])
    assert len(by_reason) == 1 and by_reason[0]["value"] == 1
    if reason:
        assert by_reason[0]["reason"] == reason
    else:  # the token's own reason, a short code
        assert by_reason[0]["reason"] not in ("", "None", "malformed_header") and " " not in by_reason[0]["reason"]
    refused = [r for r in logs if r.getMessage() == "token refused"]
    assert len(refused) == 1 and refused[0].levelno == logging.INFO
    assert refused[0].reason == by_reason[0]["reason"]
    if header:
        assert header.split()[-1] not in json.dumps(refused[0].__dict__, default=str)


def test_a_deleted_account_is_refused_as_account_deleted(user, capsys, logs):  # noqa: F811
    token = tokens.issue(user, "s-1").token
    users.delete(users.get(user))
    capsys.readouterr()
    refuse(f"Bearer {token}")
    assert [r["reason"] for r in rejections(capsys.readouterr().out) if "reason" in r] == ["account_deleted"]
    assert [r.reason for r in logs if r.getMessage() == "token refused"] == ["account_deleted"]


def test_an_accepted_token_counts_no_rejection(user, capsys, logs):  # noqa: F811
    capsys.readouterr()
    handler(event(f"Bearer {tokens.issue(user, 's-1').token}"), FakeContext())
    assert rejections(capsys.readouterr().out) == []
    assert not [r for r in logs if r.getMessage() == "token refused"]


def test_the_method_arn_is_split_at_its_first_execute_api():
    # The path is the caller's: a path naming ":execute-api:" must not move the split.
    tricky = f"{API}/GET/api/v1/process/status/x:execute-api:eu-west-1:999999999999:evil/v1/GET/y"
    assert api_resource(tricky) == f"{API}/*/api/v1/*"
    assert api_resource(f"{API}/GET/") == f"{API}/*/api/v1/*"  # the root resource


@pytest.mark.parametrize("arn", ["arn:aws:lambda:eu-west-1:1:function:x", f"{API}",
                                 "arn:aws:execute-api:eu-west-1:123456789012:abc123", ":execute-api:a/b/GET/x"])
def test_arns_without_api_stage_and_method_are_refused_with_a_reason(arn):
    with pytest.raises(ValueError, match="^unexpected method ARN$"):
        api_resource(arn)


def test_a_canary_key_token_for_anyone_but_the_canary_is_refused_and_counted(aws_env, user, capsys, logs):  # noqa: F811
    """The canary's role may sign with its own key only: a token it signed for a real user
    (with its own kid, correctly signed, live) answers 401 like any invalid token, and its
    reason says why; the canary's own token for its account is honoured."""
    import base64
    import time

    import boto3

    from functions.common.canary import CANARY_USER_ID
    from tests.functions.test_tokens import kms_signed

    canary_key, user_key = aws_env["canary_signing_key"], aws_env["signing_key"]
    now = int(time.time())
    claims = {"iss": tokens.issuer(), "aud": tokens.AUDIENCE, "sub": user, "iat": now, "exp": now + 300,
              "jti": "j", "sid": "canary-s"}
    forged = kms_signed(claims, canary_key)
    assert tokens.key_id(canary_key) != tokens.key_id(user_key)
    capsys.readouterr()
    refuse(f"Bearer {forged}")
    assert [r["reason"] for r in rejections(capsys.readouterr().out) if "reason" in r] == ["canary_key_other_subject"]
    assert not [r for r in logs if user in json.dumps(r.__dict__, default=str)]  # the log names no one
    # The same user's token from the users' key still passes: only the canary key's tokens are limited.
    assert handler(event(f"Bearer {tokens.issue(user, 's-1').token}"), FakeContext())["principalId"] == user
    # The canary's own token, from the canary's key and kid, for its account.
    boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test").put_item(
        Item={"PK": f"USER#{CANARY_USER_ID}", "SK": "PROFILE", "created_at": "2026-01-01T00:00:00Z"})
    issued = tokens.issue(CANARY_USER_ID, "canary-s", lifetime_s=300, canary=True)
    header = issued.token.split(".")[0]
    assert json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"] == tokens.key_id(canary_key)
    assert handler(event(f"Bearer {issued.token}"), FakeContext())["principalId"] == CANARY_USER_ID
    # And the code will not mint one for anyone else.
    with pytest.raises(ValueError):
        tokens.issue(user, "s", canary=True)
