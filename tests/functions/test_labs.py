"""The offline analyser: lab values from text PDFs, and what it refuses."""

import io
import re

import pytest
from fpdf import FPDF
from pypdf import PdfReader

from local.offline import labs
from local.offline.provider import OfflineProvider, doctor_report, pdf_text
from functions.process.providers import InputError
from functions.process.tasks import lab_task
from tests.fixtures.lab_reports import (CENTRAL_EUROPE, DEVELOPMENT, ENGINE_TABLE, FIRST, HELD_OUT, HOSPITAL,
                                       PORTAL_EXPORT, REFERENCE_LAB, TWO_COLUMNS, UNEVEN_COLUMNS, Truth, accuracy)


def text_of(pdf: bytes) -> str:
    """The text the offline analyser reads (as laid out on the page)."""
    return pdf_text(PdfReader(io.BytesIO(pdf)))


@pytest.mark.parametrize("sample", FIRST + DEVELOPMENT, ids=lambda s: s.name)
def test_every_sample_value_flag_and_unit_is_found(sample):
    n = len(sample.truth)
    score = accuracy(labs.extract(text_of(sample.pdf())), sample.truth)
    assert score == {"expected": n, "found": n, "values_right": n, "values_wrong": 0, "flags_right": n,
                     "flags_wrong": 0, "units_right": n, "false_positives": 0, "score": n}


@pytest.mark.parametrize("sample", HELD_OUT, ids=lambda s: s.name)
def test_no_held_out_sample_yields_a_wrong_value(sample):
    """The held-out layouts are not tuned on (tests/fixtures/lab_reports.py): what the
    analyser cannot read there must be missing, never a wrong number or a wrong test."""
    score = accuracy(labs.extract(text_of(sample.pdf())), sample.truth)
    assert (score["values_wrong"], score["flags_wrong"], score["false_positives"]) == (0, 0, 0)
    assert score["values_right"] > 0


@pytest.mark.parametrize("line, expected", [
    ("Hemoglobin 11.2 g/dL 12.0 - 15.5", ("718-7", 11.2, "g/dL", "low")),
    ("Potassium 7.1 mmol/L 3.5-5.1", ("2823-3", 7.1, "mmol/L", "critical_high")),
    ("Sodium 140", ("2951-2", 140.0, "mmol/L", "normal")),              # catalogue range and unit
    ("Glucose, fasting 92 mg/dL", ("2345-7", 92.0, "mg/dL", "normal")),
    ("Hb (Haemoglobin) 13,4 g/dl 13.0-17.0", ("718-7", 13.4, "g/dl", "normal")),
    ("Platelets 150,000 /uL", ("777-3", 150000.0, "/uL", "unknown")),   # other unit: no catalogue range
    ("LDL Cholesterol <30 mg/dL <100", ("13457-7", None, "mg/dL", "normal")),    # a bound: no exact value
    ("Vitamin D, 25-OH 14,2 ng/ml 30-100", ("1989-3", 14.2, "ng/ml", "low")),   # digits in the name
    ("T4, Free 1.2 ng/dL 0.8-1.8", ("3024-7", 1.2, "ng/dL", "normal")),
    ("Vitamin B12 410 pg/mL 200-900", ("2132-9", 410.0, "pg/mL", "normal")),
    ("HbA1c 6.1 H % 4.8-5.6", ("4548-4", 6.1, "%", "high")),
    ("AST 1,240 (HH)! U/L [15-37]", ("1920-8", 1240.0, "U/L", "critical_high")),
    ("WBC 6.4 x 10^9/L (4.0 - 11.0)", ("6690-2", 6.4, "x 10^9/L", "normal")),
    ("Hemoglobin 11.2g/dL 12.0 - 15.5", ("718-7", 11.2, "g/dL", "low")),         # unit glued to the value
])
def test_lines(line, expected):
    o = labs.read_line(line)
    assert (o["loinc"], o["value"], o["unit"], o["flag"]) == expected


@pytest.mark.parametrize("line", ["Page 1 of 2", "Sodium level is normal", "Reviewed by Dr. Hb", "", "Na",
                                  "CA 19-9 35 U/mL 0-37",        # a tumour marker, not calcium
                                  "WBC 4.0-11.0 10^3/uL"])        # a range without a value
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


@pytest.mark.parametrize("sample", [ENGINE_TABLE, TWO_COLUMNS, UNEVEN_COLUMNS], ids=lambda s: s.name)
def test_reports_drawn_as_positioned_cells_are_read_through_the_analyser_with_every_value(sample):
    """Issue 26: a table drawn cell by cell (column after column), a page of two columns
    of results, two columns whose rows are not level. Read in the file's order, these
    come apart (one cell per line, or two results on one line): fewer values, if any."""
    in_file_order = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(sample.pdf())).pages)
    assert len(labs.extract(in_file_order)) < len(sample.truth)  # the layout is what makes them readable
    result = analyse(sample.pdf())
    n = len(sample.truth)
    assert result["document_type"] == "lab_report" and len(result["observations"]) == n
    assert accuracy(result["observations"], sample.truth)["score"] == n
    values = {o["loinc"]: (o["value"], o["unit"], o["flag"]) for o in result["observations"]}
    assert {t.loinc: (t.value, t.unit, t.flag) for t in sample.truth} == values


@pytest.mark.parametrize("line, pieces", [
    ("Hemoglobin     14.1   g/dL   13.5-17.5      Sodium     141   mmol/L   136-145",
     ["Hemoglobin     14.1   g/dL   13.5-17.5", "Sodium     141   mmol/L   136-145"]),
    ("   Potassium   3.3 L   mmol/L   3.5-5.1   Chloride   100   mmol/L   98-107   TSH   2.1   mIU/L",
     ["Potassium   3.3 L   mmol/L   3.5-5.1", "Chloride   100   mmol/L   98-107", "TSH   2.1   mIU/L"]),
    # a unit cell followed by a range reads like "Mg 70" or "K 4.8": it is not a result of its own
    ("Glucose   131   H   mg/dL   70 - 99", ["Glucose   131   H   mg/dL   70 - 99"]),
    ("WBC   2.1 (L)   K/uL   4.8 - 10.8", ["WBC   2.1 (L)   K/uL   4.8 - 10.8"]),
    ("Hemoglobin A1c   6.1   High   %   4.8-5.6", ["Hemoglobin A1c   6.1   High   %   4.8-5.6"]),
    ("HAEMATOLOGY          CHEMISTRY", ["HAEMATOLOGY          CHEMISTRY"]),
])
def test_a_laid_out_line_is_cut_before_each_result_printed_beside_another(line, pieces):
    cut = labs.side_by_side(line)
    assert "".join(cut) == line
    assert [piece.strip() for piece in cut if piece.strip()] == pieces


def test_side_by_side_results_each_keep_their_own_flag_and_range():
    line = "Platelets      148 L   10^3/uL   150-400      Glucose     88   mg/dL   70-99"
    found = {o["loinc"]: o for o in labs.extract(line)}
    assert (found["777-3"]["flag"], found["777-3"]["reference_range"]["text"]) == ("low", "150-400")
    assert (found["2345-7"]["flag"], found["2345-7"]["reference_range"]["text"]) == ("normal", "70-99")


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
    ("Sodium 150 135-145", None),                # a printed range without a unit: no unit assumed
    ("Ferritin 12 (20-250)", None),
    ("Glucose 90 mg / dL 70-99", "mg/dL"),       # spaced around its slash: still one unit, never "/"
    ("Glucose 104 mg/dL(70-99)", "mg/dL"),       # a range glued to the unit is cut out of it
    ("Glucose 104 70-99mg/dL H", "mg/dL"),
    ("Hemoglobin 12 g /dL", "g/dL"),
])
def test_the_unit_is_the_first_word_after_the_value_that_is_not_a_flag(line, unit):
    assert labs.read_line(line)["unit"] == unit


def test_a_range_printed_without_a_unit_still_takes_the_critical_limits():
    o = labs.read_line("Sodium 165 135-145")
    assert (o["unit"], o["flag"]) == (None, "critical_high")


@pytest.mark.parametrize("line, value, value_text", [
    ("Platelets 150,000 /uL", 150000.0, "150,000"),
    ("Hb 13,4 g/dl", 13.4, "13,4"),
    ("eGFR >= 90 mL/min/1.73m2", None, ">=90"),   # a bound is not an exact value
    ("eGFR > 90 mL/min/1.73m2", None, ">90"),
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


def observation_of(sample, loinc: str) -> dict:
    return next(o for o in labs.extract(text_of(sample.pdf())) if o["loinc"] == loinc)


def expected(name, loinc, value, value_text, unit, low, high, range_text, flag) -> dict:
    return {"name": name, "loinc": loinc, "value": value, "value_text": value_text, "unit": unit,
            "reference_range": {"low": low, "high": high, "text": range_text}, "flag": flag}


@pytest.mark.parametrize("sample, want", [
    # flag words in their own column, x10E3/uL, a lab code at the end of each line
    (REFERENCE_LAB, expected("White blood cells", "6690-2", 11.9, "11.9", "x10E3/uL", 3.4, 10.8, "3.4-10.8", "high")),
    (REFERENCE_LAB, expected("Neutrophils, absolute", "751-8", 8.9, "8.9", "x10E3/uL", 1.4, 7.0, "1.4-7.0", "high")),
    (REFERENCE_LAB, expected("Vitamin D, 25-hydroxy", "1989-3", 18.2, "18.2", "ng/mL", 30.0, 100.0, "30.0-100.0",
                             "low")),
    (REFERENCE_LAB, expected("Vitamin B12", "2132-9", None, ">2000", "pg/mL", 232.0, 1245.0, "232-1245", "high")),
    (REFERENCE_LAB, expected("eGFR", "33914-3", 84.0, "84", "mL/min/1.73", 59.0, None, ">59", "normal")),
    # short codes, 10^3/uL, H/L/HH/LL/* column: LL is the laboratory's critical call
    (HOSPITAL, expected("Platelets", "777-3", 42.0, "42", "10^3/uL", 150.0, 400.0, "150-400", "critical_low")),
    (HOSPITAL, expected("Calcium", "17861-6", 6.4, "6.4", "mg/dL", 8.5, 10.5, "8.5-10.5", "critical_low")),
    (HOSPITAL, expected("Carbon dioxide, total", "2028-9", 18.0, "18", "mmol/L", 22.0, 29.0, "22-29", "low")),
    (HOSPITAL, expected("C-reactive protein", "1988-5", None, "<0.5", "mg/dL", 0.0, 1.0, "0.0-1.0", "normal")),
    (HOSPITAL, expected("Troponin I", "10839-9", 0.84, "0.84", "ng/mL", 0.0, 0.04, "0.00-0.04", "high")),
    # decimal commas, x10E9/L, SI units under their molar codes
    (CENTRAL_EUROPE, expected("White blood cells", "6690-2", 7.8, "7,80", "x10E9/L", 3.9, 10.2, "3,90 - 10,20",
                              "normal")),
    (CENTRAL_EUROPE, expected("Red blood cells", "789-8", 4.21, "4,21", "x10E12/L", 4.3, 5.75, "4,30 - 5,75", "low")),
    (CENTRAL_EUROPE, expected("Creatinine", "14682-9", 97.0, "97", "\u00b5mol/l", 62.0, 106.0, "62 - 106", "normal")),
    (CENTRAL_EUROPE, expected("Total cholesterol", "14647-2", 5.8, "5,8", "mmol/l", None, 5.2, "< 5,2", "high")),
    (CENTRAL_EUROPE, expected("Vitamin D, 25-hydroxy", "1989-3", 14.2, "14,2", "ng/ml", 30.0, 100.0, "30,0 - 100,0",
                              "low")),
    (CENTRAL_EUROPE, expected("Ferritin", "2276-4", None, ">1650", "ng/ml", 30.0, 400.0, "30 - 400", "high")),
    (CENTRAL_EUROPE, expected("eGFR", "33914-3", None, ">90", "ml/min/1,73m2", 60.0, None, "> 60", "normal")),
    # the unit after the range (10*3/uL), "Low (L)" flags
    (PORTAL_EXPORT, expected("White blood cells", "6690-2", 3.2, "3.2", "10*3/uL", 4.0, 10.5, "4.0 - 10.5", "low")),
    (PORTAL_EXPORT, expected("TSH", "3016-3", None, "<0.02", "uIU/mL", 0.4, 4.5, "0.40 - 4.50", "low")),
    (PORTAL_EXPORT, expected("Free T4", "3024-7", 2.9, "2.9", "ng/dL", 0.8, 1.8, "0.8 - 1.8", "high")),
    (PORTAL_EXPORT, expected("LDL cholesterol", "13457-7", 138.0, "138", "mg/dL", None, 100.0, "<100", "high")),
], ids=lambda x: x["name"] if isinstance(x, dict) else x.name.split(",")[0])
def test_new_layouts_read_exactly(sample, want):
    assert observation_of(sample, want["loinc"]) == want


@pytest.mark.parametrize("line, flag", [
    ("CRP <0.5 mg/L <5", "normal"),                       # every value under the bound is in range
    ("CRP <5 mg/L 0-3", "unknown"),                       # some are, some are not
    ("TSH <0.02 mIU/L 0.40-4.00", "low"),                 # below the range, maybe not critically
    ("TSH <0.01 mIU/L 0.40-4.00", "critical_low"),        # all below the critical limit (0.01)
    ("Glucose <=50 mg/dL 70-99", "low"),                  # 50 itself is not below the critical 50
    ("Vitamin B12 >2000 pg/mL 200-900", "high"),
    ("Potassium >7.0 mmol/L 3.5-5.1", "critical_high"),
    ("eGFR >90 mL/min/1.73m2 >60", "normal"),
    ("eGFR >60 mL/min/1.73m2 >60", "normal"),             # every value above the lower limit
    ("eGFR >=60 mL/min/1.73m2 >60", "normal"),            # at it, too: a lower limit is inclusive
    ("eGFR >45 mL/min/1.73m2 >60", "unknown"),
])
def test_a_bound_is_never_a_value_and_flags_only_what_holds_for_all_values_under_it(line, flag):
    o = labs.read_line(line)
    assert o["value"] is None and o["value_text"] == re.search(r"[<>]=?[\d.]+", line)[0] and o["flag"] == flag


@pytest.mark.parametrize("line, flag", [
    ("WBC 35 K/uL", "critical_high"),          # the catalogue's 10*3/uL and its critical limit (30)
    ("WBC 35 x10E9/L", "critical_high"),
    ("WBC 35 x 10^9/L", "critical_high"),     # the multiplier printed apart
    ("Leucocytes 35 /nl", "critical_high"),
    ("TSH 0.005 uIU/mL", "critical_low"),      # the catalogue's mIU/L
    ("WBC 35000 cells/uL", "unknown"),         # another scale: no catalogue range to compare with
])
def test_units_naming_the_same_quantity_use_the_catalogue_range(line, flag):
    assert labs.read_line(line)["flag"] == flag


@pytest.mark.parametrize("line", [
    "HbA1c 48 mmol/mol 20-41",                 # IFCC units: another code than the catalogue's %
    "Hemoglobin 8.1 mmol/L 7.5-10.0",          # molar, and no molar code in the catalogue
    "Absolute Neutrophils 62 % 40-70",         # a percentage is not a count
    "Sodium 3.2 mg/dL 3.1-3.3",                # a mass under a molar test
    "ALT 35 mg/dL 10-40",                      # a mass is not an enzyme's activity (U/L)
    "TSH 2.1 pmol/L 0.4-4.0",                  # nor a molar concentration a hormone's units (mIU/L)
])
def test_a_unit_of_another_kind_is_not_read_rather_than_coded_wrongly(line):
    assert labs.read_line(line) is None


@pytest.mark.parametrize("line, loinc, flag", [
    ("Creatinine 88 umol/L 59-104", "14682-9", "normal"),
    ("Glucose 5.1 mmol/L", "14749-6", "unknown"),        # no catalogue range in molar units
    ("Magnesium 0.61 mmol/L L", "2601-3", "low"),        # the laboratory's flag, as nothing else tells
    ("Sodium 140 mmol/L", "2951-2", "normal"),           # catalogued in mmol/L already
])
def test_molar_units_get_the_molar_code(line, loinc, flag):
    o = labs.read_line(line)
    assert (o["loinc"], o["flag"]) == (loinc, flag)


@pytest.mark.parametrize("line, flag", [
    ("Calcium 6.4 LL mg/dL 8.5-10.5", "critical_low"),   # the laboratory calls it critical
    ("Ferritin 500 * ng/mL 30-400", "high"),             # abnormal, the range says which way
    ("Ferritin 200 * ng/mL 30-400", "unknown"),          # abnormal for the lab, normal for the range
    ("Hemoglobin 11.2 H g/dL 12.0-15.5", "unknown"),     # the lab reads it the other way
    ("Glucose 92 H mg/dL", "unknown"),                   # against the catalogue range too
    ("Troponin I 0.84 Abnormal ng/mL", "high"),          # the catalogue range (<0.04)
    ("Potassium 5.4 N mmol/L 3.5-5.1", "unknown"),
    ("Ferritin 9 L ng/mL", "low"),
    ("Ferritin 9 H L ng/mL", "unknown"),                 # marks that disagree, whichever way
    ("Ferritin 500 H L ng/mL 30-400", "unknown"),        # the range points (one of the two lines
                                                         # agrees with either mark read alone)
])
def test_the_laboratory_flag_is_checked_against_the_range(line, flag):
    assert labs.read_line(line)["flag"] == flag


def test_commas_are_decimal_in_a_report_that_writes_decimal_commas():
    european = labs.extract("Haemoglobin 13,9 g/dl 13,0-17,0\nLeucocytes 4,210 x10E9/L 3,90 - 10,20")
    assert [o["value"] for o in european] == [13.9, 4.21]
    american = labs.extract("Hemoglobin 11.2 g/dL 12.0-15.5\nPlatelets 150,000 /uL")
    assert [o["value"] for o in american] == [11.2, 150000.0]
    assert labs.read_line("Leucocytes 0,270 x10E9/L")["value"] == 0.27  # never 270


@pytest.mark.parametrize("line, flag", [
    ("Glucose >200 mg/dL", "high"),             # above the range, not all above the critical 400
    ("Glucose >400 mg/dL", "critical_high"),    # every value above 400 is critical
    ("Glucose >=400 mg/dL", "high"),            # 400 itself is not above the critical limit
    ("Glucose <50 mg/dL", "critical_low"),      # every value under 50 is below the critical 50
    ("Glucose <60 mg/dL", "low"),
    ("Glucose <70 mg/dL", "low"),               # every value under 70 is below the range
    ("Glucose <=70 mg/dL", "unknown"),          # 70 itself is in range
])
def test_a_bound_at_or_near_a_limit_is_flagged_only_for_what_holds_for_every_value(line, flag):
    assert labs.read_line(line)["flag"] == flag


def test_a_report_with_decimal_commas_reads_its_ranges_with_them_too():
    european = labs.extract("Haemoglobin 13,9 g/dl 13,0-17,0\nTSH 1,500 mIU/L 1,000-4,000")
    tsh = next(o for o in european if o["name"] == "TSH")
    assert (tsh["value"], tsh["reference_range"]["low"], tsh["reference_range"]["high"], tsh["flag"]) == (
        1.5, 1.0, 4.0, "normal")
    assert tsh["reference_range"]["text"] == "1,000-4,000"


def test_a_report_of_whole_numbers_reads_a_comma_as_a_thousands_separator():
    [platelets] = labs.extract("Platelets 250,000 /uL")
    assert platelets["value"] == 250000.0


def test_a_unit_written_with_a_decimal_comma_is_the_catalogues_unit():
    o = labs.read_line("eGFR 52 mL/min/1,73m2")
    assert (o["unit"], o["flag"]) == ("mL/min/1,73m2", "low")  # the catalogue's range (>60) applies
