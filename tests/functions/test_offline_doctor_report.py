"""The offline analyser's doctor report (the local stand-in for Bedrock): values are
followed per test across reports by LOINC code when they have one (names differ between
labs), by name otherwise, and a report without observations is simply empty."""

from local.offline.provider import doctor_report


def obs(name, value, loinc=None, flag="normal", unit="mg/dL"):
    return {"name": name, "loinc": loinc, "value": value, "value_text": str(value), "unit": unit, "flag": flag}


def test_values_are_followed_by_loinc_code_across_differently_named_tests():
    report = doctor_report([
        {"date": "2026-01-01", "result": {"observations": [obs("LDL cholesterol", 100.0, "13457-7")]}},
        {"date": "2026-03-01", "result": {"observations": [obs("LDL-C (calc.)", 150.0, "13457-7")]}},
    ])
    assert len(report["trends"]) == 1
    trend = report["trends"][0]
    assert trend["loinc"] == "13457-7" and trend["direction"] == "up"
    assert [p["value"] for p in trend["points"]] == [100.0, 150.0]


def test_without_a_loinc_code_values_are_followed_by_name():
    report = doctor_report([
        {"date": "2026-01-01", "result": {"observations": [obs("Ferritin", 80.0), obs("Vitamin D", 30.0)]}},
        {"date": "2026-02-01", "result": {"observations": [obs("Ferritin", 40.0), obs("Vitamin D", 30.5)]}},
    ])
    trends = {t["name"]: t for t in report["trends"]}
    assert set(trends) == {"Ferritin", "Vitamin D"}
    assert (trends["Ferritin"]["direction"], trends["Vitamin D"]["direction"]) == ("down", "stable")
    assert "2 tests" in report["summary"]


def test_a_result_without_observations_is_an_empty_report_not_an_error():
    report = doctor_report([{"date": "2026-01-01", "result": {"document_type": "other"}},
                            {"date": "2026-02-01", "result": {"observations": [obs("Ferritin", 80.0)]}}])
    assert report["trends"] == [] and report["abnormal_findings"] == []
    assert report["period"] == {"from": "2026-01-01", "to": "2026-02-01"}
    assert report["questions_for_doctor"]


def test_one_question_per_finding_whatever_the_number_of_dates():
    """A test low on three dates is one question naming the three dates, not three."""
    report = doctor_report([
        {"date": f"2026-0{m}-01", "result": {"observations": [obs("Hemoglobin", 10.0 + m, "718-7", "low"),
                                                             obs("Potassium", 5.9, "2823-3", "high")]}}
        for m in (1, 2, 3)])
    assert len(report["abnormal_findings"]) == 6
    questions = [q for q in report["questions_for_doctor"] if "rechecked" in q]
    assert len(questions) == 2
    assert any(q.startswith("My Hemoglobin was low on 2026-01-01, 2026-02-01, 2026-03-01") for q in questions)
    # Hemoglobin also rose by more than 5%: it is already asked about, not asked twice
    assert not any("Hemoglobin has gone" in q for q in report["questions_for_doctor"])


def test_at_most_five_findings_and_three_trends_become_questions():
    """A visit has room for a few questions: the latest five findings, then three tests
    that moved without leaving their range."""
    tests = [f"Test {i}" for i in range(6)]
    report = doctor_report([
        {"date": f"2026-0{m}-01", "result": {"observations": [
            *[obs(name, 10.0 * m, flag="high") for name in tests],
            *[obs(f"Moving {i}", 10.0 * m) for i in range(5)]]}}
        for m in (1, 2)])
    questions = report["questions_for_doctor"]
    assert len([q for q in questions if "rechecked" in q]) == 5
    assert len([q for q in questions if "has gone up" in q]) == 3 and len(questions) == 8
    # with room to spare (two findings), still three trends
    fewer = doctor_report([
        {"date": f"2026-0{m}-01", "result": {"observations": [
            *[obs(name, 10.0 * m, flag="high") for name in tests[:2]],
            *[obs(f"Moving {i}", 10.0 * m) for i in range(5)]]}}
        for m in (1, 2)])["questions_for_doctor"]
    assert (len(fewer), len([q for q in fewer if "has gone up" in q])) == (5, 3)


def test_the_users_notes_appear_in_the_report_word_for_word_and_reach_the_model():
    """API.md: notes are the user's own words for the doctor and appear in the report.
    They are copied from the request (trimmed), whatever the model does with them."""
    import json

    from functions.common.results import DoctorReportDraft
    from functions.process.tasks import report_task

    results = [{"date": "2026-01-01", "result": {"observations": [
        {"name": "Hemoglobin", "loinc": "718-7", "value": 11.2, "value_text": "11.2", "unit": "g/dL",
         "reference_range": {"low": 12.0, "high": 15.5, "text": "12.0-15.5"}, "flag": "low"}]}}]
    notes = "Tired since March; my mother had anaemia."
    task = report_task(json.dumps({"results": results, "notes": f"  {notes}\n"}).encode())
    assert notes in json.dumps(task.messages)
    draft = DoctorReportDraft.model_validate_json(json.dumps(doctor_report(results)))
    report = task.finish(draft, "offline")
    assert report["notes"] == notes and report["disclaimer"]
    without = report_task(json.dumps({"results": results, "notes": "   "}).encode())
    assert without.finish(draft, "offline")["notes"] is None
