"""Usage records (functions/common/usage.py): what one finished job tells analytics."""

import pytest

from functions.common import usage

USER, JOB = "11111111-1111-1111-1111-111111111111", "report_x_1700000000000_0123456789abcdef"


def test_a_failed_job_records_its_kind_outcome_code_model_cost_and_time_in_utc():
    use = usage.ModelUse(model_id="eu.anthropic.claude-haiku-4-5-20251001-v1:0", latency_ms=1234.9,
                         input_tokens=1500, output_tokens=300)
    item = usage.record(USER, JOB, "report", {"status": "failed", "error": {"code": "invalid_model_reply"}}, use,
                        now=1_700_000_000.5)
    assert item == {"PK": f"USAGE#{USER}", "SK": f"JOB#{JOB}", "job_kind": "doctor_report", "outcome": "failed",
                    "error_code": "invalid_model_reply", "model_id": "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
                    "latency_ms": 1234, "input_tokens": 1500, "output_tokens": 300,
                    "finished_at": "2023-11-14T22:13:20.500Z", "ttl": 1_700_000_000 + 2 * 86_400}
    assert set(item) <= set(usage.ATTRIBUTES)


def test_a_lab_report_records_its_file_type_pages_and_count_of_values_and_leaves_out_what_is_unknown():
    read = usage.Document(input_type="pdf", page_count=3, observation_count=0)
    item = usage.record(USER, JOB, "result", {"status": "completed"}, usage.ModelUse(), read, now=0)
    assert (item["input_type"], item["page_count"], item["observation_count"]) == ("pdf", 3, 0)
    refused = usage.record(USER, JOB, "result", {"status": "failed", "error": {"code": "unsupported_document"}},
                           usage.ModelUse(), usage.Document(input_type="photo"), now=0)
    assert refused["input_type"] == "photo" and not {"page_count", "observation_count"} & set(refused)
    assert set(item) <= set(usage.ATTRIBUTES)


@pytest.mark.parametrize("content_type, kind", [("application/pdf", "pdf"), ("image/jpeg", "photo"),
                                                ("image/png; charset=x", "screenshot"), ("Application/PDF", "pdf"),
                                                ("image/gif", None), ("", None)])
def test_the_input_type_is_named_by_the_declared_content_type(content_type, kind):
    assert usage.input_type(content_type) == kind


def test_a_job_that_never_reached_the_model_records_no_model_and_zero_cost():
    item = usage.record(USER, JOB, "result", {"status": "completed"}, usage.ModelUse(), now=0)
    assert (item["job_kind"], item["outcome"], item["finished_at"]) == ("lab_report", "completed",
                                                                       "1970-01-01T00:00:00.000Z")
    assert "model_id" not in item and "error_code" not in item
    assert (item["latency_ms"], item["input_tokens"], item["output_tokens"]) == (0, 0, 0)
    assert usage.KINDS["chat"] == "chat" and usage.PREMIUM_KINDS == {"doctor_report"}
