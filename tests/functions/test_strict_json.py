"""Issue 24, item 5: numbers are JSON numbers (RFC 8259, section 6) on the way in, in what
is stored and on the way out; job ids are ASCII digits only.

Python's json module reads `NaN`, `Infinity` and `-Infinity` and writes them back, and
reads `1e400` as infinity; pydantic's float fields accept all of them. A body with one is
400 `invalid_json` and changes nothing; a response or a stored outcome that would carry
one fails (500 in the contract's format) instead of going out."""

import decimal
import json
import math
import uuid

import boto3
import pytest

from functions.common import jobs, users
from functions.common.http import make_resolver
from tests.conftest import api_event
from tests.fixtures.lab_reports import TABLE
from tests.functions.test_process import StubModel, VALID, deliver, outcome, upload, use
from tests.functions.test_process import s3  # noqa: F401 (fixture)
from tests.functions.test_request_isolation import Context, answer, onboard, request

BUCKET = "serenya-test-temp"
NOT_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e400", "-1E400", "1e309"]


def strict_loads(text: str):
    """What any RFC 8259 parser accepts: no NaN or infinities anywhere."""
    def refuse(name):
        raise AssertionError(f"{name} in a response")
    return json.loads(text, parse_constant=refuse)


def observation(value: str) -> str:
    return '{"name": "Hemoglobin", "value": %s, "value_text": "11.2", "flag": "low"}' % value


def chat_body(value: str) -> str:
    return '{"message": "Is this fine?", "context": {"results": [{"observations": [%s]}]}}' % observation(value)


def report_body(value: str) -> str:
    return '{"results": [{"date": "2024-01-02", "result": {"observations": [%s]}}]}' % observation(value)


def routes():
    from functions.chat_messages import handler as chat
    from functions.doctor_report import handler as report

    return {"chat": (chat.handler, "/api/v1/chat/messages", chat_body),
            "report": (report.handler, "/api/v1/process/doctor-report", report_body)}


def premium(user_id: str) -> str:
    users.update(user_id, {"current_subscription": {"type": "premium", "status": "active"}})
    return user_id


def stored(prefix: str = "") -> list[str]:
    listing = boto3.client("s3", region_name="eu-west-1").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for o in listing.get("Contents", [])]


@pytest.mark.parametrize("route", ["chat", "report"])
@pytest.mark.parametrize("value", NOT_NUMBERS)
def test_a_body_with_a_number_json_has_not_is_400_invalid_json_and_changes_nothing(aws_env, route, value):
    handler, path, body = routes()[route]
    user = premium(onboard(f"strict-{route}"))
    status, _ = answer(handler, request(user, "ok", body("11.2"), method="POST", path=path), "aws-ok")
    assert status == 202  # the same body with a real number is accepted
    before = stored()
    status, answered = answer(handler, request(user, "bad", body(value), method="POST", path=path), "aws-bad")
    assert (status, answered["error"]["code"], answered["error"]["request_id"]) == (400, "invalid_json", "bad")
    assert stored() == before


@pytest.mark.parametrize("value", NOT_NUMBERS)
def test_every_body_route_refuses_them_at_any_depth(aws_env, value):
    """The profile's PUT and the upload route parse bodies the same way."""
    from functions.upload import handler as upload_fn
    from functions.user_profile import handler as profile

    user = onboard("strict-any")
    for handler, path, body in [
            (upload_fn.handler, "/api/v1/process/upload", '{"content_type": "application/pdf", "file_size": %s}'),
            (profile.handler, "/api/v1/user/profile", '{"biometric": {"enabled": true}, "x": [[%s]]}')]:
        method = "PUT" if "profile" in path else "POST"
        status, answered = answer(handler, request(user, "r", body % value, method=method, path=path), "aws")
        assert (status, answered["error"]["code"]) == (400, "invalid_json"), (path, value)


@pytest.mark.parametrize("value", ["1e308", "-1.5e-300", "0", "123456789012345678901234567890"])
def test_large_and_small_finite_numbers_still_parse(aws_env, value):
    user = onboard("strict-finite")
    handler, path, body = routes()["chat"]
    status, answered = answer(handler, request(user, "r", body(value), method="POST", path=path), "aws")
    assert status == 202, answered


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, decimal.Decimal("NaN")])
def test_a_response_that_would_carry_one_is_a_500_in_the_contracts_format(value):
    app = make_resolver(cors_origins=())

    @app.get("/api/v1/broken")
    def broken():
        return {"value": value}

    reply = app.resolve(api_event("GET", "/api/v1/broken"), Context("aws"))
    body = strict_loads(reply["body"])
    assert reply["statusCode"] == 500 and body["error"]["code"] == "internal_error"


def test_finite_numbers_are_answered_as_before():
    app = make_resolver(cors_origins=())

    @app.get("/api/v1/fine")
    def fine():
        return {"value": 1e308, "decimal": decimal.Decimal("1.5")}, 201

    reply = app.resolve(api_event("GET", "/api/v1/fine"), Context("aws"))
    assert reply["statusCode"] == 201 and strict_loads(reply["body"]) == {"value": 1e308, "decimal": "1.5"}


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_model_reply_with_one_fails_the_job_and_stores_valid_json(s3, monkeypatch, value):  # noqa: F811
    use(monkeypatch, StubModel({**VALID, "observations": [{**VALID["observations"][0], "value": value}]}))
    job = upload(s3, TABLE.pdf())
    deliver(job)
    stored_outcome = s3.get_object(Bucket=BUCKET, Key=job.outgoing)["Body"].read().decode()
    assert strict_loads(stored_outcome)["error"]["code"] == "invalid_model_reply"
    assert outcome(s3, job)[0]["status"] == "failed"


def test_an_outcome_that_is_not_json_is_never_written(aws_env):
    job = jobs.new_job_id("result", str(uuid.uuid4()))
    with pytest.raises(ValueError):
        jobs.write_outcome(job, {"status": "completed", "result": {"value": math.nan}})
    with pytest.raises(ValueError):
        jobs.write_input(job, {"value": math.inf})
    assert stored() == []


# -- ids: ASCII digits only ------------------------------------------------------------

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")


def respelled(job_id: str, table) -> str:
    """The id with its timestamp's digits in another script (int() reads them all)."""
    kind, user, ms, rand = job_id.split("_")
    return f"{kind}_{user}_{ms.translate(table)}_{rand}"


@pytest.mark.parametrize("table", [ARABIC_INDIC, FULLWIDTH, DEVANAGARI], ids=["arabic-indic", "fullwidth", "devanagari"])
def test_a_job_id_with_other_digits_is_malformed(table):
    user = str(uuid.uuid4())
    job = jobs.new_job_id("result", user)
    variant = respelled(job.value, table)
    assert int(variant.split("_")[2]) == job.created_ms  # the same number to Python
    assert jobs.parse(variant) is None and jobs.owned(variant, user) is None
    one_digit = job.value.replace(str(job.created_ms)[-1], str(job.created_ms)[-1].translate(table), 1)
    assert jobs.parse(job.value) == job and jobs.parse(one_digit) is None


@pytest.mark.parametrize("table", [ARABIC_INDIC, FULLWIDTH], ids=["arabic-indic", "fullwidth"])
def test_routes_answer_such_ids_as_any_malformed_id_and_change_nothing(aws_env, table):
    from functions.cleanup import handler as cleanup
    from functions.result import handler as result
    from functions.status import handler as status

    user = onboard("strict-ids")
    fresh = jobs.new_job_id("result", user)  # inside its upload window: "pending" when well formed
    for handler, method, route in [(status.handler, "GET", "/api/v1/process/status/"),
                                   (result.handler, "GET", "/api/v1/process/result/"),
                                   (cleanup.handler, "DELETE", "/api/v1/process/cleanup/")]:
        answers = []
        for job_id in (respelled(fresh.value, table), f"result_{user}_1_abc"):
            event = request(user, "r", method=method, path=route + job_id)
            event["resource"] = route + "{job_id}"
            event["pathParameters"] = {"job_id": job_id}
            code, body = answer(handler, event, "aws")
            answers.append((code, body["error"]["code"], body["error"]["message"]))
        assert answers[0] == answers[1] and answers[0][0] == 404, (route, answers)
    assert stored() == []  # no tombstone for a respelled id


@pytest.mark.parametrize("loinc", ["٧١٨-٧", "718-٧", "７１８-７"])
def test_a_loinc_code_with_other_digits_is_refused(loinc):
    from pydantic import ValidationError

    from functions.common.requests import ReceivedObservation
    from functions.common.results import Observation

    for model in (ReceivedObservation, Observation):
        with pytest.raises(ValidationError):
            model.model_validate_json(json.dumps({"name": "Hemoglobin", "loinc": loinc, "value_text": "1"}))
        assert model.model_validate_json(json.dumps({"name": "Hemoglobin", "loinc": "718-7", "value_text": "1"}))


@pytest.mark.parametrize("line", ["Hemoglobin ١١.٢ g/dL", "Hemoglobin 1١.2 g/dL", "Hemoglobin １１.２ g/dL"])
def test_lab_values_are_read_from_ascii_digits_only(line):
    from local.offline import labs

    assert labs.read_line(line) is None
    assert labs.read_line("Hemoglobin 11.2 g/dL")["value"] == 11.2

