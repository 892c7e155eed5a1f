"""The offline analyser's doctor report (the local stand-in for Bedrock): values are
followed per test across reports by LOINC code when they have one (names differ between
labs), by name otherwise, and a report without observations is simply empty."""

from functions.process.offline import doctor_report


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
