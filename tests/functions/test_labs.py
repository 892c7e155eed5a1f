"""The offline analyser: lab values from text PDFs, and what it refuses."""

import io

import pytest
from fpdf import FPDF
from pypdf import PdfReader

from functions.process import labs
from functions.process.offline import OfflineProvider, doctor_report
from functions.process.providers import InputError
from functions.process.tasks import lab_task
from tests.fixtures.lab_reports import FIRST, Truth, accuracy


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.parametrize("sample", FIRST, ids=lambda s: s.name)
def test_every_sample_value_and_flag_is_found(sample):
    n = len(sample.truth)
    score = accuracy(labs.extract(text_of(sample.pdf())), sample.truth)
    assert score == {"expected": n, "found": n, "values_right": n, "values_wrong": 0, "flags_right": n,
                     "flags_wrong": 0, "units_right": n, "false_positives": 0, "score": n}


@pytest.mark.parametrize("line, expected", [
    ("Hemoglobin 11.2 g/dL 12.0 - 15.5", ("718-7", 11.2, "g/dL", "low")),
    ("Potassium 7.1 mmol/L 3.5-5.1", ("2823-3", 7.1, "mmol/L", "critical_high")),
    ("Sodium 140", ("2951-2", 140.0, "mmol/L", "normal")),              # catalogue range and unit
    ("Glucose, fasting 92 mg/dL", ("2345-7", 92.0, "mg/dL", "normal")),
    ("Hb (Haemoglobin) 13,4 g/dl 13.0-17.0", ("718-7", 13.4, "g/dl", "normal")),
    ("Platelets 150,000 /uL", ("777-3", 150000.0, "/uL", "unknown")),   # other unit: no catalogue range
    ("LDL Cholesterol <30 mg/dL <100", ("13457-7", 30.0, "mg/dL", "normal")),
])
def test_lines(line, expected):
    o = labs.read_line(line)
    assert (o["loinc"], o["value"], o["unit"], o["flag"]) == expected


@pytest.mark.parametrize("line", ["Page 1 of 2", "Sodium level is normal", "Reviewed by Dr. Hb", "", "Na"])
def test_lines_without_a_result(line):
    assert labs.read_line(line) is None


def pdf_with(*lines: str) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=10)
    for line in lines:
        pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def analyse(body: bytes, content_type="application/pdf") -> dict:
    task = lab_task(body, content_type)
    reply = OfflineProvider().converse(system=task.system, messages=task.messages, tool=task.tool)
    assert reply["stopReason"] == "tool_use"
    return reply["output"]["message"]["content"][0]["toolUse"]["input"]


def test_a_letter_is_another_document():
    result = analyse(pdf_with("Dear patient,", "your appointment is on Monday."))
    assert result["document_type"] == "other" and result["observations"] == []


@pytest.mark.parametrize("body, content_type, code", [
    (b"%PDF-1.4\n%%garbage", "application/pdf", "unreadable_document"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png", "unsupported_document"),
    (b"\xff\xd8\xff\xe0" + b"\0" * 64, "image/jpeg", "unsupported_document"),
    (b"%PDF-1.4", "image/png", "unsupported_document"),   # declared PNG, is a PDF
    (b"GIF89a", "image/gif", "unsupported_document"),
])
def test_unreadable_inputs_have_a_clear_code(body, content_type, code):
    with pytest.raises(InputError) as e:
        analyse(body, content_type)
    assert e.value.code == code


def test_doctor_report_trends_and_findings():
    def result(hb, ldl):
        return {"observations": [
            {"name": "Hemoglobin", "loinc": "718-7", "value": hb, "value_text": str(hb), "unit": "g/dL",
             "flag": "low" if hb < 12 else "normal"},
            {"name": "LDL cholesterol", "loinc": "13457-7", "value": ldl, "value_text": str(ldl), "unit": "mg/dL",
             "flag": "high" if ldl > 100 else "normal"}]}
    report = doctor_report([{"date": "2026-06-01", "result": result(11.0, 99)},
                            {"date": "2026-01-01", "result": result(13.0, 101)}])
    assert report["period"] == {"from": "2026-01-01", "to": "2026-06-01"}
    trends = {t["loinc"]: t for t in report["trends"]}
    assert trends["718-7"]["direction"] == "down" and trends["13457-7"]["direction"] == "stable"
    assert [p["date"] for p in trends["718-7"]["points"]] == ["2026-01-01", "2026-06-01"]
    assert {(f["loinc"] if "loinc" in f else f["name"], f["date"]) for f in report["abnormal_findings"]} == {
        ("Hemoglobin", "2026-06-01"), ("LDL cholesterol", "2026-01-01")}
    assert 1 <= len(report["questions_for_doctor"]) <= 8


def test_accuracy_scores_a_wrong_value_below_a_missing_one():
    truth = (Truth("718-7", 11.2, "low", "g/dL"), Truth("1988-5", None, "normal", "mg/L", "<0.5"),
             Truth("2823-3", 4.1, "normal", "mmol/L"))

    def o(loinc, value, value_text, flag="unknown", unit=None):
        return {"loinc": loinc, "value": value, "value_text": value_text, "flag": flag, "unit": unit}

    right = [o("718-7", 11.2, "11.2", "low", "g/dL"), o("1988-5", None, "<0.5", "normal", "mg/L"),
             o("2823-3", 4.1, "4.1", "normal", "mmol/L")]
    assert accuracy(right, truth)["score"] == 3
    # the bound read as exact, a wrong flag, a value declined, a value under another test
    found = [o("718-7", 11.2, "11.2", "high"), o("1988-5", 0.5, "<0.5", "normal", "mg/L"),
             o("2823-3", None, "4.l"), o("2951-2", 140, "140")]
    assert accuracy(found, truth) == {
        "expected": 3, "found": 4, "values_right": 1, "values_wrong": 1, "flags_right": 1, "flags_wrong": 1,
        "units_right": 1, "false_positives": 1, "score": -1}
    assert accuracy([], truth)["score"] == 0  # nothing found is better than wrong values
