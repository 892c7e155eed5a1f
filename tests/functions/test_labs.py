"""The offline analyser: lab values from text PDFs, and what it refuses."""

import io

import pytest
from fpdf import FPDF
from pypdf import PdfReader

from functions.process import labs
from functions.process.offline import OfflineProvider, doctor_report
from functions.process.providers import InputError
from functions.process.tasks import lab_task
from tests.fixtures.lab_reports import SAMPLES, accuracy


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_every_sample_value_and_flag_is_found(sample):
    score = accuracy(labs.extract(text_of(sample.pdf())), sample.truth)
    assert score == {"expected": len(sample.truth), "found": len(sample.truth), "values_right": len(sample.truth),
                     "flags_right": len(sample.truth), "false_positives": 0}


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


@pytest.mark.parametrize("line, value, flag", [
    # the catalogue's critical limits for potassium are 2.5 and 6.5 mmol/L; both limits exclusive
    ("Potassium 2.4 mmol/L 3.5-5.1", 2.4, "critical_low"),
    ("Potassium 2.5 mmol/L 3.5-5.1", 2.5, "low"),
    ("Potassium 3.5 mmol/L 3.5-5.1", 3.5, "normal"),
    ("Potassium 5.1 mmol/L 3.5-5.1", 5.1, "normal"),
    ("Potassium 5.2 mmol/L 3.5-5.1", 5.2, "high"),
    ("Potassium 6.5 mmol/L 3.5-5.1", 6.5, "high"),
    ("Potassium 6.6 mmol/L 3.5-5.1", 6.6, "critical_high"),
])
def test_flags_compare_with_the_printed_range_and_the_catalogues_critical_limits(line, value, flag):
    o = labs.read_line(line)
    assert (o["value"], o["flag"]) == (value, flag)
    assert o["reference_range"] == {"low": 3.5, "high": 5.1, "text": "3.5-5.1"}


@pytest.mark.parametrize("line, reference_range, flag", [
    ("LDL Cholesterol 90 mg/dL <100", {"low": None, "high": 100.0, "text": "<100"}, "normal"),
    ("LDL Cholesterol 130 mg/dL <= 100", {"low": None, "high": 100.0, "text": "<= 100"}, "high"),
    ("CRP 14 mg/L up to 10", {"low": None, "high": 10.0, "text": "up to 10"}, "high"),
    ("HDL Cholesterol 38 mg/dL (ref >40) L", {"low": 40.0, "high": None, "text": ">40"}, "low"),
    ("HDL Cholesterol 52 mg/dL >= 40", {"low": 40.0, "high": None, "text": ">= 40"}, "normal"),
    ("Sodium 146 mmol/L 135 to 145", {"low": 135.0, "high": 145.0, "text": "135 to 145"}, "high"),
    ("Sodium 134 mmol/L 135–145", {"low": 135.0, "high": 145.0, "text": "135–145"}, "low"),
    ("Sodium 140", {"low": 135.0, "high": 145.0, "text": None}, "normal"),  # the catalogue's, unprinted
])
def test_every_way_a_reference_range_is_printed(line, reference_range, flag):
    o = labs.read_line(line)
    assert (o["reference_range"], o["flag"]) == (reference_range, flag)


@pytest.mark.parametrize("line, unit, flag", [
    ("WBC 6.4 x10^3/uL", "x10^3/uL", "normal"),          # the catalogue's 10*3/uL written otherwise
    ("Platelets 40 10^3/µL", "10^3/µL", "critical_low"),  # micro sign, and the catalogue's critical limit
    ("Platelets 40 10^3/μL", "10^3/μL", "critical_low"),  # Greek mu
    ("Platelets 40 10E3/uL", "10E3/uL", "critical_low"),
    ("WBC 35 10*3/UL", "10*3/UL", "critical_high"),
    ("Glucose 5.4 mmol/L", "mmol/L", "unknown"),        # other unit: neither range nor critical limits
    ("Glucose 45 mg/dL", "mg/dL", "critical_low"),
])
def test_units_agree_with_the_catalogue_whatever_their_spelling(line, unit, flag):
    o = labs.read_line(line)
    assert (o["unit"], o["flag"]) == (unit, flag)


@pytest.mark.parametrize("line, unit", [
    ("Glucose 104 H mg/dL 70-99", "mg/dL"),      # flag words before the unit are skipped
    ("Glucose 104 HIGH mg/dL", "mg/dL"),
    ("Glucose 104 * mg/dL", "mg/dL"),
    ("Ferritin 12 ng/mL, 20-250", "ng/mL"),      # punctuation after it is not part of it
    ("Ferritin 12; ng/mL", "ng/mL"),
    ("Sodium 150 135-145", None),                # a printed range without a unit: no unit assumed
    ("Ferritin 12 (20-250)", None),
])
def test_the_unit_is_the_first_word_after_the_value_that_is_not_a_flag(line, unit):
    assert labs.read_line(line)["unit"] == unit


def test_a_range_printed_without_a_unit_still_takes_the_critical_limits():
    o = labs.read_line("Sodium 165 135-145")
    assert (o["unit"], o["flag"]) == (None, "critical_high")


@pytest.mark.parametrize("line, value, value_text", [
    ("Platelets 150,000 /uL", 150000.0, "150,000"),
    ("Hb 13,4 g/dl", 13.4, "13,4"),
    ("eGFR >= 90 mL/min/1.73m2", 90.0, ">=90"),
    ("eGFR > 90 mL/min/1.73m2", 90.0, ">90"),
    ("- HGB: 12.9 g/dL", 12.9, "12.9"),           # list markers and separators before the value
    ("• Hemoglobin = 12.9 g/dL", 12.9, "12.9"),
])
def test_values_are_read_as_printed(line, value, value_text):
    o = labs.read_line(line)
    assert (o["value"], o["value_text"]) == (value, value_text)


def test_a_known_name_followed_by_a_date_is_not_a_value():
    assert labs.read_line("Hemoglobin 12/05/2026") is None
    assert labs.read_line("Hemoglobinopathy screen 1 negative") is None


def test_the_first_value_of_a_test_is_kept():
    found = labs.extract("Hemoglobin 11.0 g/dL\nHb 14.0 g/dL\nSodium 140 mmol/L\nnot a result")
    assert [(o["name"], o["value"]) for o in found] == [("Hemoglobin", 11.0), ("Sodium", 140.0)]
