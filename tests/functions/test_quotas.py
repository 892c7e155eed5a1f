"""Per-user quotas of model-backed work (functions/common/quotas.py): counted when a job is
created, by plan, per hour and per UTC day, atomically; over a limit the routes answer
429 `quota_exceeded` with Retry-After and create nothing (API.md, Conventions)."""

from __future__ import annotations

import json
import threading
import uuid

import boto3
import pytest

from functions.common import quotas, users
from tests.conftest import FakeContext, api_event

T0 = 1_795_996_800  # a whole UTC day: 2026-11-30T00:00:00Z
assert T0 % 86400 == 0

LIMITS = {"free": {"documents": {"hour": 2, "day": 3}, "chat_messages": {"hour": 2, "day": 4},
                   "doctor_reports": {"hour": 0, "day": 0}},
          "premium": {"documents": {"hour": 5, "day": 9}, "chat_messages": {"hour": 5, "day": 9},
                      "doctor_reports": {"hour": 1, "day": 2}}}
PREMIUM = {"type": "premium", "status": "active", "product_id": "health.serenya.premium.monthly"}


@pytest.fixture
def table(aws_env, monkeypatch):
    monkeypatch.setenv("QUOTAS", json.dumps(LIMITS))
    return boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test")


def user(table, subscription=None, subject=None) -> str:
    user_id = str(uuid.uuid4())
    table.put_item(Item={"PK": f"USER#{user_id}", "SK": "PROFILE", "user_id": user_id,
                         "GSI2PK": f"EXTERNAL#google#{subject or user_id}",
                         "current_subscription": subscription or dict(users.FREE_PLAN)})
    return user_id


def held(table, user_id) -> dict[str, int]:
    """The counters the routes keep for this user: their identity's (quotas.holder)."""
    identity = table.get_item(Key={"PK": f"USER#{user_id}", "SK": "PROFILE"})["Item"]["GSI2PK"]
    return counters(table, quotas.holder(identity))


def counters(table, user_id) -> dict[str, int]:
    items = table.query(KeyConditionExpression="PK = :pk", ExpressionAttributeValues={
        ":pk": f"{quotas.KEY_PREFIX}{user_id}"})["Items"]
    return {i["SK"]: int(i["used"]) for i in items}


def test_the_hour_limit_refuses_until_the_next_hour_and_counts_nothing_more(table):
    u = user(table)
    quotas.consume(u, "documents", "free", now=T0 + 10)
    quotas.consume(u, "documents", "free", now=T0 + 20)
    before = counters(table, u)
    with pytest.raises(quotas.QuotaExceeded) as e:
        quotas.consume(u, "documents", "free", now=T0 + 1800.5)
    assert (e.value.refusal.window, e.value.refusal.retry_after) == ("hour", 1800)
    assert counters(table, u) == before == {f"documents#hour#{T0}": 2, f"documents#day#{T0}": 2}
    quotas.consume(u, "documents", "free", now=T0 + 3600)  # the next hour: one more fits the day
    with pytest.raises(quotas.QuotaExceeded) as e:
        quotas.consume(u, "documents", "free", now=T0 + 7200)
    assert (e.value.refusal.window, e.value.refusal.retry_after) == ("day", 86400 - 7200)
    quotas.consume(u, "documents", "free", now=T0 + 86400)  # a new UTC day


def test_counters_are_per_user_kind_and_plan(table):
    a, b = user(table), user(table)
    for _ in range(2):
        quotas.consume(a, "documents", "free", now=T0)
    quotas.consume(b, "documents", "free", now=T0)       # another user: their own counters
    quotas.consume(a, "chat_messages", "free", now=T0)   # another kind: its own counters
    quotas.consume(a, "documents", "premium", now=T0)    # premium's larger limit applies to the same count
    assert counters(table, a)[f"documents#hour#{T0}"] == 3


def test_a_limit_of_zero_refuses_without_a_write(table):
    u = user(table)
    with pytest.raises(quotas.QuotaExceeded) as e:
        quotas.consume(u, "doctor_reports", "free", now=T0 + 60)
    assert e.value.refusal.window == "day" and e.value.refusal.retry_after == 86400 - 60
    assert counters(table, u) == {}


def test_concurrent_requests_never_exceed_the_limit(table):
    """Eight threads at once against a limit of five an hour: exactly five counted."""
    u = user(table, PREMIUM)
    outcomes, lock = [], threading.Lock()
    start = threading.Barrier(8)

    def one():
        start.wait(5)
        try:
            quotas.consume(u, "documents", "premium", now=T0)
            result = "ok"
        except quotas.QuotaExceeded:
            result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(outcomes) == ["ok"] * 5 + ["refused"] * 3
    assert counters(table, u)[f"documents#hour#{T0}"] == 5


def test_counters_held_by_the_users_own_requests_through_every_attempt_are_a_429(table, monkeypatch):
    """DynamoDB cancels a transaction on an item another transaction holds with
    TransactionConflict (API_TransactWriteItems: CancellationReasons). Three in a row is
    one user's client racing itself: 429 with a second's wait, nothing counted, no 5xx."""
    from botocore.exceptions import ClientError

    from functions.common import aws

    u = user(table)
    calls = []

    class Conflicting:
        def transact_write_items(self, **kwargs):
            calls.append(kwargs)
            raise ClientError({"Error": {"Code": "TransactionCanceledException",
                                         "Message": "Transaction cancelled, please refer cancellation reasons for "
                                                    "specific reasons [TransactionConflict, None]"},
                               "CancellationReasons": [{"Code": "TransactionConflict",
                                                        "Message": "Transaction is ongoing for the item"},
                                                       {"Code": "None"}]}, "TransactWriteItems")

    monkeypatch.setattr(aws, "client", lambda name: Conflicting())
    monkeypatch.setattr(quotas.time, "sleep", lambda s: None)
    with pytest.raises(quotas.QuotaExceeded) as e:
        quotas.consume(u, "documents", "free", now=T0)
    assert len(calls) == 3
    assert (e.value.refusal.window, e.value.refusal.retry_after) == (quotas.BUSY, 1)
    assert "at once" in e.value.refusal.describe()
    monkeypatch.undo()
    assert counters(table, u) == {}


def test_counters_expire_after_their_window(table):
    u = user(table)
    quotas.consume(u, "chat_messages", "free", now=T0 + 5)
    items = {i["SK"]: int(i["ttl"]) for i in table.query(
        KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": f"QUOTA#{u}"})["Items"]}
    assert items == {f"chat_messages#hour#{T0}": T0 + 3600 + quotas.TTL_GRACE_SECONDS,
                     f"chat_messages#day#{T0}": T0 + 86400 + quotas.TTL_GRACE_SECONDS}


def test_the_profile_shows_the_window_that_binds(table):
    u = user(table)
    quotas.consume(u, "documents", "free", now=T0 + 10)
    quotas.consume(u, "documents", "free", now=T0 + 20)
    shown = quotas.status(u, "free", now=T0 + 30)
    assert shown["documents"] == {"used": 2, "limit": 2, "resets_at": "2026-11-30T01:00:00Z"}  # the hour is full
    assert shown["chat_messages"] == {"used": 0, "limit": 2, "resets_at": "2026-11-30T01:00:00Z"}
    assert shown["doctor_reports"]["limit"] == 0
    assert quotas.status(u, "free", now=T0 + 3600)["documents"] == {  # next hour: the day has 1 left
        "used": 2, "limit": 3, "resets_at": "2026-12-01T00:00:00Z"}


@pytest.mark.parametrize("value, expected", [
    ("x", "must be a mapping"),
    ({"free": {}, "premium": {}}, "free.documents: must be {hour: <n>, day: <n>}"),
    ({**LIMITS, "gold": {}}, "gold: not a plan"),
    ({"free": {**LIMITS["free"], "images": {"hour": 1, "day": 1}}, "premium": LIMITS["premium"]}, "free.images"),
    ({"free": {**LIMITS["free"], "documents": {"hour": 4, "day": 3}}, "premium": LIMITS["premium"]},
     "hour 4 exceeds day 3"),
    ({"free": {**LIMITS["free"], "documents": {"hour": -1, "day": 3}}, "premium": LIMITS["premium"]},
     "whole number"),
    ({"free": {**LIMITS["free"], "documents": {"hour": 1.5, "day": 3}}, "premium": LIMITS["premium"]},
     "whole number"),
    ({"free": {**LIMITS["free"], "documents": {"hour": True, "day": 3}}, "premium": LIMITS["premium"]},
     "whole number"),
])
def test_wrong_limits_are_named(value, expected):
    assert any(expected in p for p in quotas.problems(value)), quotas.problems(value)


def test_the_defaults_are_valid_and_bounded():
    assert quotas.problems(quotas.DEFAULT_LIMITS) == []
    free = quotas.DEFAULT_LIMITS["free"]
    assert free["documents"]["day"] <= 10 and free["chat_messages"]["day"] <= 50  # a handful, a few dozen
    assert free["doctor_reports"] == {"hour": 0, "day": 0}                      # premium only


# -- through the routes ---------------------------------------------------------------

def call(handler, method, path, user_id, body):
    event = api_event(method, path, body)
    event["requestContext"]["authorizer"] = {"user_id": user_id}
    reply = handler(event, FakeContext())
    headers = {**(reply.get("headers") or {}), **{k: v[-1] for k, v in (reply.get("multiValueHeaders") or {}).items()}}
    return reply["statusCode"], json.loads(reply["body"]), headers


def incoming(user_id) -> list[str]:
    listed = boto3.client("s3", region_name="eu-west-1").list_objects_v2(Bucket="serenya-test-temp",
                                                                        Prefix="incoming/")
    return [o["Key"] for o in listed.get("Contents", []) if user_id in o["Key"]]


def test_chat_over_the_hour_limit_is_429_with_retry_after_and_creates_nothing(table):
    from functions.chat_messages.handler import handler

    u = user(table)
    statuses = [call(handler, "POST", "/api/v1/chat/messages", u, {"message": "Is my iron low?"})[0]
                for _ in range(2)]
    assert statuses == [202, 202] and len(incoming(u)) == 2
    status, body, headers = call(handler, "POST", "/api/v1/chat/messages", u, {"message": "And now?"})
    assert status == 429 and body["error"]["code"] == "quota_exceeded"
    retry = int(headers["Retry-After"])
    assert 1 <= retry <= 3600 and body["error"]["retry_after"] == retry
    assert len(incoming(u)) == 2  # nothing written


def test_invalid_requests_do_not_use_the_quota(table):
    from functions.chat_messages.handler import handler

    u = user(table)
    for _ in range(3):
        assert call(handler, "POST", "/api/v1/chat/messages", u, {"message": ""})[0] == 422
    assert held(table, u) == {}


def test_uploads_count_documents_by_plan(table):
    from functions.upload.handler import handler

    free, premium = user(table), user(table, PREMIUM)
    body = {"content_type": "application/pdf", "file_size": 1000}
    assert [call(handler, "POST", "/api/v1/process/upload", free, body)[0] for _ in range(3)] == [201, 201, 429]
    assert [call(handler, "POST", "/api/v1/process/upload", premium, body)[0] for _ in range(3)] == [201] * 3


def test_a_free_doctor_report_is_refused_before_its_body_is_read(table, monkeypatch):
    from functions.common import http
    from functions.doctor_report.handler import handler

    read = []
    monkeypatch.setattr(http, "parse_json_object", lambda app: read.append(1) or {})
    status, body, _ = call(handler, "POST", "/api/v1/process/doctor-report", user(table), {"results": []})
    assert (status, body["error"]["code"], read) == (403, "premium_required", [])


def test_doctor_reports_count_for_premium(table):
    from functions.doctor_report.handler import handler

    u = user(table, PREMIUM)
    result = {"document_type": "lab_report", "observations": [], "summary": "s", "confidence": 0.5,
              "model": "m", "disclaimer": "d", "processed_at": "2026-11-30T00:00:00Z"}
    body = {"results": [{"date": "2026-11-01", "result": result}]}
    statuses = [call(handler, "POST", "/api/v1/process/doctor-report", u, body)[0] for _ in range(2)]
    assert statuses == [202, 429]


def test_a_deleted_account_is_refused_before_the_quota(table):
    from functions.upload.handler import handler

    status, body, _ = call(handler, "POST", "/api/v1/process/upload", str(uuid.uuid4()),
                           {"content_type": "application/pdf", "file_size": 1000})
    assert status == 401 and body["error"]["code"] == "unauthorized"


def test_the_profile_route_shows_what_is_left(table, monkeypatch):
    from functions.chat_messages.handler import handler as chat
    from functions.user_profile.handler import handler as profile

    # The profile's own fields (sealed names and email) are tested in test_users.py.
    monkeypatch.setattr(users, "to_user", lambda item: {"id": item["user_id"]})
    u = user(table, PREMIUM)
    assert call(chat, "POST", "/api/v1/chat/messages", u, {"message": "Hello?"})[0] == 202
    status, body, _ = call(profile, "GET", "/api/v1/user/profile", u, None)
    assert status == 200
    assert set(body["quota"]) == set(quotas.KINDS)
    assert body["quota"]["chat_messages"]["used"] == 1 and body["quota"]["chat_messages"]["limit"] == 5
    assert body["quota"]["doctor_reports"] == {**body["quota"]["doctor_reports"], "used": 0, "limit": 1}


# -- inputs bounded by what the model accepts (issue 24, item 2) -----------------------

def test_a_pdf_over_the_models_document_limit_is_refused_at_the_ticket(table):
    """Bedrock: "The maximum size of a document is 4.5 MB" (DocumentBlock). Refused before
    the quota is used; images (scaled down before the model) keep the 10 MiB limit.
    https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_DocumentBlock.html"""
    from functions.common.limits import MAX_PDF_BYTES
    from functions.upload.handler import handler

    u = user(table)
    status, body, _ = call(handler, "POST", "/api/v1/process/upload", u,
                           {"content_type": "application/pdf", "file_size": MAX_PDF_BYTES + 1})
    assert (status, body["error"]["code"]) == (413, "file_too_large") and held(table, u) == {}
    assert call(handler, "POST", "/api/v1/process/upload", u,
                {"content_type": "application/pdf", "file_size": MAX_PDF_BYTES})[0] == 201
    assert call(handler, "POST", "/api/v1/process/upload", u,
                {"content_type": "image/jpeg", "file_size": MAX_PDF_BYTES + 1})[0] == 201


def test_a_pdf_over_the_limit_that_arrives_anyway_fails_before_the_model():
    from functions.common.limits import MAX_PDF_BYTES
    from functions.process.providers import InputError
    from functions.process.tasks import lab_task

    with pytest.raises(InputError) as e:
        lab_task(b"%PDF-1.7\n" + b"0" * MAX_PDF_BYTES, "application/pdf")
    assert e.value.code == "document_too_large"


def test_doctor_report_results_that_cannot_fit_the_models_context_are_413_before_parsing(table, monkeypatch):
    """Issue 24 item 2: a 3.6 MB report (about a million tokens) was accepted; now anything over
    what the context window takes is refused, before the body is parsed or the quota used."""
    from functions.common import http, limits
    from functions.doctor_report.handler import handler

    assert limits.MAX_REPORT_BYTES / 2.5 + 4_096 + 2_000 <= limits.CONTEXT_TOKENS
    assert limits.MAX_CHAT_TOKENS + 4_096 + 2_000 <= limits.CONTEXT_TOKENS  # a chat let through always fits
    u = user(table, PREMIUM)
    parsed = []
    monkeypatch.setattr(http, "parse_json_object", lambda app: parsed.append(1) or {})
    status, body, _ = call(handler, "POST", "/api/v1/process/doctor-report", u,
                           {"results": [], "notes": "x" * limits.MAX_REPORT_BYTES})
    assert (status, body["error"]["code"], parsed) == (413, "payload_too_large", [])
    assert held(table, u) == {}


def test_a_request_that_fails_after_counting_gives_the_count_back(table, monkeypatch):
    """API.md: "A request that fails changes nothing" (an adversarial review found a failed
    S3 write leaving the quota used)."""
    from functions.chat_messages.handler import handler
    from functions.common import jobs

    u = user(table)
    write = jobs.write_input
    monkeypatch.setattr(jobs, "write_input", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("S3 down")))
    statuses = [call(handler, "POST", "/api/v1/chat/messages", u, {"message": "Hi?"})[0] for _ in range(3)]
    assert statuses == [500] * 3
    assert set(held(table, u).values()) <= {0}
    monkeypatch.setattr(jobs, "write_input", write)
    assert [call(handler, "POST", "/api/v1/chat/messages", u, {"message": "Hi?"})[0] for _ in range(3)] == \
        [202, 202, 429]  # the full hour's limit is still there


@pytest.mark.parametrize("path, module", [("/api/v1/auth/oauth-signin", "functions.auth.handler"),
                                          ("/api/v1/auth/oauth-onboarding", "functions.auth.handler"),
                                          ("/api/v1/process/upload", "functions.upload.handler")])
def test_a_padded_body_is_refused_before_it_is_read(table, path, module):
    """An adversarial review paged on-call with 2-10 MB bodies to sign-in: each was parsed
    (0.3-2.5 s) before its 4xx, burning the route's latency objective."""
    import importlib

    handler = importlib.import_module(module).handler
    from functions.common.limits import MAX_BODY_BYTES

    status, body, _ = call(handler, "POST", path, user(table), {"pad": "x" * MAX_BODY_BYTES})
    assert (status, body["error"]["code"]) == (413, "payload_too_large")


def test_deleting_the_account_and_onboarding_again_keeps_the_quota(table):
    """An adversarial review got 62 jobs from one Google account in 5 delete/onboard cycles:
    the counters are the identity's, not the account's."""
    from functions.upload.handler import handler

    body = {"content_type": "application/pdf", "file_size": 1000}
    first = user(table, subject="google-sub-1")
    assert [call(handler, "POST", "/api/v1/process/upload", first, body)[0] for _ in range(2)] == [201, 201]
    table.delete_item(Key={"PK": f"USER#{first}", "SK": "PROFILE"})
    again = user(table, subject="google-sub-1")          # the same person, a new account
    assert call(handler, "POST", "/api/v1/process/upload", again, body)[0] == 429
    other = user(table, subject="google-sub-2")          # another person: their own counters
    assert call(handler, "POST", "/api/v1/process/upload", other, body)[0] == 201


def turns(text: str, n: int) -> list[dict]:
    return [{"role": ("user", "assistant")[i % 2], "content": text} for i in range(n)]


@pytest.mark.parametrize("text, n, accepted", [
    ("\U0001f600" * 8000, 7, False),   # 224 KB of emoji: about 168,000 tokens, under 256 KiB
    ("\u4e2d" * 8000, 10, False),      # 240 KB of Chinese: about 120,000 tokens
    ("\u4e2d" * 8000, 5, True),        # 120 KB of Chinese: about 60,000 tokens
    ("x" * 8000, 30, True),            # 240 KB of ASCII: about 96,000 tokens
])
def test_a_chat_is_bounded_by_its_estimated_tokens_not_its_bytes(table, text, n, accepted):
    """The adversarial review sent 240 KB of emoji, 720,000 characters once escaped into the
    prompt (about 180,000 tokens against a cost model of 89,000): the estimate reads
    characters, and the prompt carries them unescaped."""
    from functions.chat_messages.handler import handler
    from functions.common import limits

    body = {"message": "what do these mean?", "conversation": turns(text, n)}
    assert len(json.dumps(body, ensure_ascii=False).encode()) < limits.MAX_CHAT_BYTES
    u = user(table)
    status, answer, _ = call(handler, "POST", "/api/v1/chat/messages", u, body)
    if accepted:
        assert status == 202, answer
        assert held(table, u)[next(iter(held(table, u)))] == 1
    else:
        assert (status, answer["error"]["code"]) == (413, "payload_too_large")
        assert held(table, u) == {} and incoming(u) == []


def test_a_doctor_report_of_emoji_is_bounded_by_tokens(table):
    from functions.common import limits
    from functions.doctor_report.handler import handler

    body = {"results": [{"date": "2026-11-01", "result": {"summary": "\U0001f600" * 4000}}] * 20}  # 320 KB
    size = len(json.dumps(body, ensure_ascii=False).encode())
    assert size < limits.MAX_REPORT_BYTES  # the bytes alone would let it through
    assert limits.estimated_tokens(json.dumps(body, ensure_ascii=False)) > limits.MAX_REPORT_TOKENS
    u = user(table, PREMIUM)
    status, answer, _ = call(handler, "POST", "/api/v1/process/doctor-report", u, body)
    assert (status, answer["error"]["code"]) == (413, "payload_too_large")
    assert held(table, u) == {}


def test_the_prompt_carries_the_users_text_unescaped():
    """json.dumps escapes every non-ASCII character as \\uXXXX (six characters, twelve for an
    emoji) unless told otherwise: the model would read three to six times the tokens."""
    from functions.process.tasks import chat_task, report_task

    chat = chat_task(json.dumps({"message": "\u4e2d\u6587?", "context": {"results": []}}).encode())
    texts = [b["text"] for m in chat.messages for b in m["content"] if "text" in b]
    assert any("\u4e2d\u6587" in t for t in texts[1:]) and not any("\\u4e2d" in t for t in texts)
    report = report_task(json.dumps({"results": [{"date": "2026-11-01", "result": {"summary": "\U0001f600"}}]}).encode())
    texts = [b["text"] for m in report.messages for b in m["content"] if "text" in b]
    assert any("\U0001f600" in t for t in texts) and not any("\\ud83d" in t for t in texts)
