"""The offline analyser (the local stand-in for Bedrock, local/offline/provider.py) on
chat questions, lab summaries and doctor reports, through the tasks the process function
builds: what it answers about which results, and that every reply has Converse's shape.
The end-to-end suite uses it through the local stack; these reach it directly."""

from __future__ import annotations

import json
import re

import pytest

from functions.process import tasks
from local.offline.provider import OfflineProvider, doctor_report
from functions.process.providers import InputError, tool_input
from tests.fixtures.lab_reports import TABLE
from tests.functions.test_process import deliver, outcome, s3, upload, use  # noqa: F401 (s3: a fixture)


def obs(name, value_text, flag="normal", unit="ng/mL", range_text=None, value=None, loinc=None):
    o = {"name": name, "value_text": value_text, "unit": unit, "flag": flag, "loinc": loinc,
         "value": float(value_text) if value is None and value_text.replace(".", "").isdigit() else value}
    if range_text:
        o["reference_range"] = {"text": range_text}
    return o


def result(*observations):
    return {"document_type": "lab_report", "observations": list(observations), "summary": "s", "confidence": 0.9,
            "model": "m", "disclaimer": "d", "processed_at": "2026-01-01T00:00:00.000Z"}


def ask(message, *results, conversation=None):
    """The offline answer to `message` about `results`, through the chat task."""
    body = {"message": message, "context": {"results": list(results)}}
    if conversation:
        body["conversation"] = conversation
    task = tasks.chat_task(json.dumps(body).encode())
    reply = OfflineProvider().converse(system=task.system, messages=task.messages, tool=task.tool)
    return task.draft.model_validate(tool_input(reply, task.tool_name)).message


FERRITIN = obs("Ferritin", "12", "low", "ng/mL", "15-150")
HEMOGLOBIN = obs("Hemoglobin", "13.9", "normal", "g/dL", "12.0-15.5")
FREE_T4 = obs("Free T4", "2.4", "high", "ng/dL", "0.8-1.8")


def test_a_question_naming_a_test_is_answered_about_that_test_only():
    answer = ask("What does my FERRITIN mean?", result(FERRITIN, HEMOGLOBIN, FREE_T4))
    assert answer == "Here is what your results show. Ferritin is 12 ng/mL, below its reference range (15-150)."


def test_a_question_sharing_a_longer_word_with_a_test_is_about_that_test():
    answer = ask("is my free thyroxine ok", result(FERRITIN, HEMOGLOBIN, FREE_T4))
    assert "Free T4 is 2.4 ng/dL, above its reference range (0.8-1.8)." in answer
    assert "Ferritin" not in answer and "Hemoglobin" not in answer


def test_words_of_three_letters_or_fewer_do_not_select_a_test():
    # "t4" is part of "Free T4" but too short to mean it: the abnormal results are described
    answer = ask("and my t4 and the ldl?", result(FERRITIN, HEMOGLOBIN, FREE_T4))
    assert "Ferritin is 12" in answer and "Free T4 is 2.4" in answer and "Hemoglobin" not in answer


def test_a_general_question_is_answered_about_the_results_outside_their_range():
    answer = ask("How am I doing?", result(HEMOGLOBIN, FERRITIN), result(FREE_T4, obs("Iron", "80", "unknown")))
    assert answer.startswith("Here is what your results show. ")
    assert answer.index("Ferritin is 12") < answer.index("Free T4 is 2.4")  # in the order shared
    assert "Hemoglobin" not in answer and "Iron" not in answer


def test_when_everything_is_in_range_the_first_five_results_are_described():
    normal = [obs(f"Test {n}", str(n), "normal", "mg/dL", f"0-{n + 1}") for n in range(1, 7)]
    answer = ask("How am I doing?", result(*normal))
    assert answer.startswith("All the results you shared are within their reference ranges. ")
    assert [int(n) for n in re.findall(r"Test (\d) is", answer)] == [1, 2, 3, 4, 5]
    assert "Test 1 is 1 mg/dL, within its reference range (0-2)." in answer


def test_without_results_the_answer_says_so_and_describes_nothing():
    for results in ((), (result(),)):
        answer = ask("Is my iron low?", *results)
        assert answer == ("I don't have any of your results to look at for this question. Share a lab report "
                          "in the app and ask again, or ask your doctor.")


@pytest.mark.parametrize("flag, words", [
    ("low", "below its reference range"), ("high", "above its reference range"),
    ("critical_low", "far below its reference range"), ("critical_high", "far above its reference range"),
    ("normal", "within its reference range"), ("unknown", "without a reference range to compare with")])
def test_each_flag_is_put_in_words(flag, words):
    answer = ask("What about my potassium?", result(obs("Potassium", "4.0", flag, "mmol/L")))
    assert answer.endswith(f"Potassium is 4.0 mmol/L, {words}.")


def test_a_value_without_unit_range_or_flag_is_described_with_what_there_is():
    bare = {"name": "Ratio", "value_text": "1.9"}
    answer = ask("and the ratio?", {**result(), "observations": [bare]})
    assert answer.endswith("Ratio is 1.9, without a reference range to compare with.")


def test_the_question_is_read_from_the_latest_turn_of_a_conversation():
    conversation = [{"role": "assistant", "content": "Hello"},  # dropped: Converse starts with the user
                    {"role": "user", "content": "<results>{\"message\": \"ferritin\", \"results\": []}</results>"},
                    {"role": "assistant", "content": "Ask me about a result."}]
    answer = ask("What about my hemoglobin?", result(FERRITIN, HEMOGLOBIN), conversation=conversation)
    assert answer.startswith("Here is what your results show. Hemoglobin is 13.9 g/dL")


def test_a_conversation_without_tagged_results_is_an_invalid_request():
    with pytest.raises(InputError) as refused:
        OfflineProvider().converse(system="Answer.", messages=[{"role": "user", "content": [
            {"text": "hi"}, {"text": "<results>x"}]}], tool={"toolSpec": {"name": "answer_user"}})
    assert refused.value.code == "invalid_request"


def test_a_reply_has_converses_shape_and_counts_tokens_from_its_text():
    task = tasks.chat_task(json.dumps({"message": "How am I doing?",
                                       "context": {"results": [result(FERRITIN)]}}).encode())
    reply = OfflineProvider().converse(system=task.system, messages=task.messages, tool=task.tool, timeout_s=1)
    assert reply["stopReason"] == "tool_use" and reply["output"]["message"]["role"] == "assistant"
    [block] = reply["output"]["message"]["content"]
    assert block["toolUse"]["name"] == "answer_user" and re.fullmatch(r"offline-[0-9a-f]{12}", block["toolUse"]["toolUseId"])
    chars = sum(len(b.get("text", "")) for m in task.messages for b in m["content"])
    out = len(json.dumps(block["toolUse"]["input"])) // 4
    assert reply["usage"] == {"inputTokens": chars // 4, "outputTokens": out, "totalTokens": chars // 4 + out}
    assert isinstance(reply["metrics"]["latencyMs"], int) and reply["metrics"]["latencyMs"] >= 0
    second = OfflineProvider().converse(system=task.system, messages=task.messages, tool=task.tool)
    assert second["output"]["message"]["content"][0]["toolUse"]["toolUseId"] != block["toolUse"]["toolUseId"]


def test_a_lab_reports_summary_counts_its_results_and_names_those_outside_their_range():
    task = tasks.lab_task(TABLE.pdf(), "application/pdf")
    reply = OfflineProvider().converse(system=task.system, messages=task.messages, tool=task.tool)
    draft = tool_input(reply, "record_lab_analysis")
    assert draft["document_type"] == "lab_report" and draft["confidence"] == 0.9
    outside = [o for o in draft["observations"] if o["flag"] not in ("normal", "unknown")]
    assert [o["name"] for o in outside] == ["Hemoglobin", "Hematocrit", "Glucose", "Potassium"]
    assert draft["summary"] == (f"{len(draft['observations'])} results were found; 4 outside the reference range: "
                                "Hemoglobin (low), Hematocrit (low), Glucose (high), Potassium (critical high).")


def test_a_report_without_lab_values_says_so():
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=9)
    pdf.cell(0, 5, "Appointment reminder: Tuesday at 10:00")
    task = tasks.lab_task(bytes(pdf.output()), "application/pdf")
    draft = tool_input(OfflineProvider().converse(system=task.system, messages=task.messages, tool=task.tool),
                       "record_lab_analysis")
    assert draft == {"document_type": "other", "observations": [], "confidence": 0.3,
                     "summary": "No laboratory values were recognised in this document."}


def test_a_report_with_every_value_in_range_says_so():
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Courier", size=9)
    for line in ("Test                     Result    Units       Reference range",
                 "Sodium                   139       mmol/L      135 - 145",
                 "TSH                      2.30      mIU/L       0.40 - 4.00"):
        pdf.cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    task = tasks.lab_task(bytes(pdf.output()), "application/pdf")
    draft = tool_input(OfflineProvider().converse(system=task.system, messages=task.messages, tool=task.tool),
                       "record_lab_analysis")
    assert draft["summary"] == "2 results were found; all are within their reference ranges."


# -- doctor reports ---------------------------------------------------------------------

def dated(date, *observations):
    return {"date": date, "result": {"observations": list(observations)}}


def test_a_doctor_report_spans_the_reports_dates_and_counts_tests_trends_and_findings():
    report = doctor_report([
        dated("2026-03-01", obs("Ferritin", "12", "low", value=12.0), obs("TSH", "2.1", value=2.1)),
        dated("2026-01-01", obs("Ferritin", "40", value=40.0), obs("Sodium", "139", value=139.0)),
        dated("2026-02-01", obs("Ferritin", "20", "low", value=20.0)),
    ])
    assert report["title"] == "Lab results 2026-01-01 to 2026-03-01"
    assert report["period"] == {"from": "2026-01-01", "to": "2026-03-01"}
    assert report["summary"] == ("3 lab report(s) from 2026-01-01 to 2026-03-01: 3 tests, 1 measured more than "
                                 "once, 2 value(s) outside the reference range.")
    [trend] = report["trends"]
    assert trend == {"name": "Ferritin", "loinc": None, "unit": "ng/mL", "direction": "down",
                     "points": [{"date": "2026-01-01", "value": 40.0}, {"date": "2026-02-01", "value": 20.0},
                                {"date": "2026-03-01", "value": 12.0}]}
    assert report["abnormal_findings"] == [
        {"name": "Ferritin", "value_text": "20", "unit": "ng/mL", "flag": "low", "date": "2026-02-01"},
        {"name": "Ferritin", "value_text": "12", "unit": "ng/mL", "flag": "low", "date": "2026-03-01"}]
    # one question per test outside its range, with every date; its trend is not asked again
    assert report["questions_for_doctor"] == [
        "My Ferritin was low on 2026-02-01, 2026-03-01: what could explain it, and should it be rechecked?"]


@pytest.mark.parametrize("first, last, direction", [
    (100.0, 105.0, "stable"), (100.0, 95.0, "stable"), (100.0, 105.1, "up"), (100.0, 94.9, "down"),
    (-100.0, -94.0, "up"), (0.0, 0.0, "stable"), (0.0, 0.1, "up"), (0.0, -0.1, "down")])
def test_a_trend_is_stable_within_five_percent_of_its_first_value(first, last, direction):
    """From 0 there is no percentage: the sign of the last value says where it went (a
    base excess from 0 to -2 went down)."""
    report = doctor_report([dated("2026-01-01", obs("Glucose", "x", value=first)),
                            dated("2026-02-01", obs("Glucose", "y", value=last))])
    assert report["trends"][0]["direction"] == direction


def test_values_without_a_number_are_findings_but_not_trend_points():
    report = doctor_report([dated("2026-01-01", obs("Culture", "positive", "high", unit=None)),
                            dated("2026-02-01", obs("Culture", "negative", unit=None)),
                            dated("2026-03-01", obs("Glucose", "90", value=90.0))])
    assert report["trends"] == []
    assert report["abnormal_findings"] == [{"name": "Culture", "value_text": "positive", "unit": None,
                                            "flag": "high", "date": "2026-01-01"}]


def test_every_out_of_range_flag_is_a_finding_and_each_test_is_asked_about_once():
    report = doctor_report([dated("2026-01-01", obs("Potassium", "3.1", "low", "mmol/L", value=3.1),
                                  obs("Sodium", "150", "high", "mmol/L", value=150.0)),
                            dated("2026-01-02", obs("Potassium", "2.3", "critical_low", "mmol/L", value=2.3),
                                  obs("Sodium", "170", "critical_high", "mmol/L", value=170.0)),
                            dated("2026-01-03", obs("Potassium", "2.2", "critical_low", "mmol/L", value=2.2),
                                  obs("Sodium", "140", "normal", "mmol/L", value=140.0))])
    assert [(f["name"], f["flag"], f["date"]) for f in report["abnormal_findings"]] == [
        ("Potassium", "low", "2026-01-01"), ("Potassium", "critical_low", "2026-01-02"),
        ("Potassium", "critical_low", "2026-01-03"), ("Sodium", "high", "2026-01-01"),
        ("Sodium", "critical_high", "2026-01-02")]
    assert report["questions_for_doctor"] == [  # the test whose last finding is older first
        "My Sodium was high or critical high on 2026-01-01, 2026-01-02: what could explain it, and should it be "
        "rechecked?",
        "My Potassium was low or critical low on 2026-01-01, 2026-01-02, 2026-01-03: what could explain it, and "
        "should it be rechecked?"]


def test_at_most_five_tests_outside_their_range_and_three_moving_ones_are_asked_about():
    days = [f"2026-01-0{d}" for d in range(1, 8)]
    reports = [dated(day, obs(f"Outside {d}", "1", "low", value=1.0)) for d, day in enumerate(days, 1)]
    reports[0]["result"]["observations"] += [obs(f"Moving {m}", "10", value=10.0) for m in range(1, 5)]
    reports[-1]["result"]["observations"] += [obs(f"Moving {m}", "20", value=20.0) for m in range(1, 5)]
    questions = doctor_report(reports)["questions_for_doctor"]
    assert questions == [f"My Outside {d} was low on 2026-01-0{d}: what could explain it, and should it be rechecked?"
                         for d in range(3, 8)] + [
        f"My Moving {m} has gone up over this period: is that a concern?" for m in range(1, 4)]


def test_results_all_in_range_ask_how_often_to_check():
    report = doctor_report([dated("2026-01-01", obs("Sodium", "139", value=139.0))])
    assert report["questions_for_doctor"] == ["My results are within their ranges: how often should I have them checked?"]
    assert report["summary"] == ("1 lab report(s) from 2026-01-01 to 2026-01-01: 1 tests, 0 measured more than once, "
                                 "0 value(s) outside the reference range.")


# -- through the process function -------------------------------------------------------

def test_a_chat_job_is_answered_by_the_offline_analyser(s3, monkeypatch):  # noqa: F811 (s3: the fixture)
    use(monkeypatch, OfflineProvider())
    job = upload(s3, kind="chat", content_type="application/json",
                 payload={"message": "Is my ferritin low?", "context": {"results": [result(FERRITIN)]}})
    deliver(job)
    body, meta = outcome(s3, job)
    assert meta == {"status": "completed"}
    assert body["response"]["message"] == ("Here is what your results show. Ferritin is 12 ng/mL, below its "
                                           "reference range (15-150).")
    assert body["response"]["model"] == "serenya-offline-1"
    assert body["response"]["created_at"].endswith("Z") and body["response"]["disclaimer"]


def test_a_report_job_is_written_by_the_offline_analyser(s3, monkeypatch):  # noqa: F811 (s3: the fixture)
    use(monkeypatch, OfflineProvider())
    job = upload(s3, kind="report", content_type="application/json", payload={"results": [
        {"date": "2026-01-01", "result": result(obs("Ferritin", "40", value=40.0))},
        {"date": "2026-02-01", "result": result(obs("Ferritin", "12", "low", value=12.0))}]})
    deliver(job)
    body, meta = outcome(s3, job)
    assert meta == {"status": "completed"}
    report = body["result"]
    assert report["period"] == {"from": "2026-01-01", "to": "2026-02-01"}
    assert [t["direction"] for t in report["trends"]] == ["down"]
    assert report["abnormal_findings"][0]["date"] == "2026-02-01" and report["disclaimer"]


def pdf_of_blank_pages(pages: int) -> bytes:
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_pdf_without_pages_or_without_text_is_unreadable():
    with pytest.raises(InputError) as refused:
        tasks.lab_task(pdf_of_blank_pages(0), "application/pdf")
    assert (refused.value.code, refused.value.reason) == ("unreadable_document", "pdf_unparsable")
    task = tasks.lab_task(pdf_of_blank_pages(1), "application/pdf")  # a scan: pages, no text (no OCR here)
    with pytest.raises(InputError) as refused:
        OfflineProvider().converse(system=task.system, messages=task.messages, tool=task.tool)
    assert (refused.value.code, refused.value.reason) == ("unreadable_document", "pdf_no_text")


def test_a_value_without_a_range_to_compare_with_is_not_counted_outside_its_range():
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Courier", size=9)
    for line in ("Glucose 5.4 mmol/L", "Sodium 150 mmol/L 135 - 145"):  # glucose in mmol/L: no range known
        pdf.cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    task = tasks.lab_task(bytes(pdf.output()), "application/pdf")
    draft = tool_input(OfflineProvider().converse(system=task.system, messages=task.messages, tool=task.tool),
                       "record_lab_analysis")
    assert [o["flag"] for o in draft["observations"]] == ["unknown", "high"]
    assert draft["summary"] == "2 results were found; 1 outside the reference range: Sodium (high)."


@pytest.mark.parametrize("values, direction", [((100.0, 150.0, 90.0), "down"), ((100.0, 50.0, 120.0), "up"),
                                               ((100.0, 200.0, 103.0), "stable")])
def test_a_trend_compares_the_first_and_the_last_value(values, direction):
    report = doctor_report([dated(f"2026-01-0{i}", obs("Glucose", str(v), value=v)) for i, v in enumerate(values, 1)])
    assert report["trends"][0]["direction"] == direction


def test_a_conversation_becomes_alternating_turns_that_start_with_the_user():
    """Converse wants alternating roles, the user first: an opening assistant turn is
    dropped and consecutive turns of one role are joined."""
    body = {"message": "And now?", "conversation": [
        {"role": "assistant", "content": "Welcome"}, {"role": "user", "content": "Hi"},
        {"role": "user", "content": "Is my iron low?"}, {"role": "assistant", "content": "It is."},
        {"role": "assistant", "content": "Ask more."}]}
    messages = tasks.chat_task(json.dumps(body).encode()).messages
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == [{"text": "Hi"}, {"text": "Is my iron low?"}]
    assert messages[1]["content"] == [{"text": "It is."}, {"text": "Ask more."}]
    assert messages[2]["content"][0] == {"text": "And now?"}
    assert messages[2]["content"][1]["text"].startswith("<results>{") and len(messages[2]["content"]) == 2
    ending_with_the_user = {"message": "And now?", "conversation": [{"role": "user", "content": "Hi"}]}
    [only] = tasks.chat_task(json.dumps(ending_with_the_user).encode()).messages
    assert only["role"] == "user" and [b["text"] for b in only["content"][:2]] == ["Hi", "And now?"]


def test_a_declared_type_with_parameters_or_capitals_is_still_that_type():
    task = tasks.lab_task(TABLE.pdf(), "Application/PDF; name=report.pdf")
    assert task.messages[0]["content"][0]["document"]["format"] == "pdf"


def test_values_on_the_last_line_of_a_page_and_the_first_of_the_next_are_both_read():
    """Pages are joined by a line break: a page's last line never runs into the next one."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=9)
    for line in ("Hemoglobin 11.2 g/dL 12.0-15.5", "Sodium 140 mmol/L 135-145"):
        pdf.add_page()
        pdf.cell(0, 5, line)
    task = tasks.lab_task(bytes(pdf.output()), "application/pdf")
    reply = OfflineProvider().converse(system=task.system, messages=task.messages, tool=task.tool)
    found = {o["name"]: (o["value"], o["unit"], o["reference_range"]["text"])
             for o in reply["output"]["message"]["content"][0]["toolUse"]["input"]["observations"]}
    assert found == {"Hemoglobin": (11.2, "g/dL", "12.0-15.5"), "Sodium": (140.0, "mmol/L", "135-145")}


def test_a_document_that_is_not_a_pdf_is_unsupported_by_the_offline_analyser():
    task = tasks.lab_task(pdf_of_blank_pages(1), "application/pdf")
    csv = {"document": {"format": "csv", "name": "lab-report", "source": {"bytes": b"name,value\nHb,11"}}}
    with pytest.raises(InputError) as refused:
        OfflineProvider().converse(system=task.system, messages=[{"role": "user", "content": [csv, {"text": "Read."}]}],
                                   tool=task.tool)
    assert (refused.value.code, refused.value.reason) == ("unsupported_document", "no_pdf")


def test_a_pdf_whose_text_cannot_be_extracted_is_unreadable(monkeypatch):
    """pypdf opens it, then fails on a page's content stream: the same reason as a file
    that does not open."""
    from functions.process import pdfs

    task = tasks.lab_task(pdf_of_blank_pages(1), "application/pdf")

    def broken(page, *args, **kwargs):
        raise pdfs._pypdf().errors.PdfReadError("bad content stream")

    monkeypatch.setattr(pdfs._pypdf().PageObject, "extract_text", broken)
    with pytest.raises(InputError) as refused:
        OfflineProvider().converse(system=task.system, messages=task.messages, tool=task.tool)
    assert (refused.value.code, refused.value.reason) == ("unreadable_document", "pdf_unparsable")
