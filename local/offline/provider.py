"""The offline analyser: Converse-shaped tool replies built without a model.

Lab reports: text extracted from the PDF as laid out (pypdf's layout mode, pdf_text),
lab values found by the catalogue of labs.py. PDFs follow the Bedrock path's rules (pdfs.py: `unreadable_document` when
unparsable or encrypted, `document_too_long` over 100 pages). Chat answers and doctor
reports: built from the results the app sent. Photos and screenshots, once prepared as
for Bedrock (images.py), are read by OCR (ocr.py) and their text goes through the same
lab-value reader; one in which no text is found ends as `unsupported_document`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict

from functions.process import pdfs
from functions.process.providers import InputError
from functions.process.tasks import RESULTS_TAG
from local.offline import converse_rules, labs

MODEL_ID = "serenya-offline-1"


def _untag(tag: str, messages: list[dict]) -> str:
    for message in reversed(messages):
        for block in message["content"]:
            text = block.get("text", "")
            if text.startswith(f"<{tag}>") and text.endswith(f"</{tag}>"):
                return text[len(tag) + 2 : -(len(tag) + 3)]
    raise InputError("invalid_request", reason="no_results_block")


class OfflineProvider:
    model_id = MODEL_ID

    def converse(self, *, system: str, messages: list[dict], tool: dict, timeout_s: float = 0) -> dict:
        # Answers in milliseconds, a photo in seconds (OCR): the timeout is not applied here.
        started = time.monotonic()
        problem = converse_rules.violation(system=system, messages=messages, tool=tool)
        if problem:  # what Bedrock answers before any model runs
            from botocore.exceptions import ClientError

            raise ClientError(
                {
                    "Error": {"Code": "ValidationException", "Message": problem},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "Converse",
            )
        name = tool["toolSpec"]["name"]
        build = {
            "record_lab_analysis": self._lab_analysis,
            "answer_user": self._answer,
            "record_doctor_report": self._doctor_report,
        }[name]
        tool_input = build(messages)
        words_in = sum(len(str(b.get("text", ""))) for m in messages for b in m["content"]) // 4
        return {
            "output": {
                "message": {
                    "role": "assistant",
                    "content": [
                        {
                            "toolUse": {
                                "toolUseId": f"offline-{uuid.uuid4().hex[:12]}",
                                "name": name,
                                "input": tool_input,
                            }
                        }
                    ],
                }
            },
            "stopReason": "tool_use",
            "usage": {
                "inputTokens": words_in,
                "outputTokens": len(json.dumps(tool_input)) // 4,
                "totalTokens": words_in + len(json.dumps(tool_input)) // 4,
            },
            "metrics": {"latencyMs": int((time.monotonic() - started) * 1000)},
        }

    # -- lab reports ----------------------------------------------------------------
    def _lab_analysis(self, messages: list[dict]) -> dict:
        blocks = [b for m in messages for b in m["content"]]
        image = next((b["image"] for b in blocks if "image" in b), None)
        if image is not None:  # a photo or screenshot: its text by OCR (loaded by photo jobs only)
            from local.offline import ocr

            return _lab_result(labs.extract(ocr.text(image["source"]["bytes"])))
        document = next((b["document"] for b in blocks if "document" in b), None)
        if document is None or document.get("format") != "pdf":
            raise InputError("unsupported_document", reason="no_pdf")
        reader = pdfs.reader(document["source"]["bytes"])
        try:
            text = pdf_text(reader)
        except pdfs.parse_errors():
            raise InputError("unreadable_document", reason="pdf_unparsable") from None
        if not text.strip():
            raise InputError("unreadable_document", reason="pdf_no_text")
        return _lab_result(labs.extract(text))

    # -- chat -----------------------------------------------------------------------
    def _answer(self, messages: list[dict]) -> dict:
        request = json.loads(_untag(RESULTS_TAG, messages))
        question = request["message"].lower()
        observations = [o for r in request["results"] for o in r.get("observations", [])]  # tasks.chat_task's shape
        asked = [
            o
            for o in observations
            if o["name"].lower() in question or any(w in question for w in o["name"].lower().split() if len(w) > 3)
        ]
        chosen = asked or [o for o in observations if o.get("flag") not in ("normal", "unknown")]
        if not observations:
            text = (
                "I don't have any of your results to look at for this question. Share a lab report "
                "in the app and ask again, or ask your doctor."
            )
        elif not chosen:
            text = "All the results you shared are within their reference ranges. " + _describe(observations[:5])
        else:
            text = "Here is what your results show. " + _describe(chosen)
        return {"message": text}

    # -- doctor reports -------------------------------------------------------------
    def _doctor_report(self, messages: list[dict]) -> dict:
        request = json.loads(_untag(RESULTS_TAG, messages))
        return doctor_report(request["results"])


def pdf_text(reader) -> str:
    """The text of every page as it is laid out (pypdf's layout mode): characters placed by
    their position, so the cells of a table stay on their row and columns printed side by
    side stay apart, in whatever order the file draws them (report engines often draw a
    table column after column, and text read in the file's order then gives one cell per
    line). A page the layout mode cannot read, or finds empty, is read in the file's order."""
    pages = []
    for page in reader.pages:
        try:
            text = page.extract_text(extraction_mode="layout")
        except pdfs.parse_errors():
            text = ""
        pages.append(text if text.strip() else page.extract_text() or "")
    return "\n".join(pages)


def _lab_result(observations: list[dict]) -> dict:
    return {
        "document_type": "lab_report" if observations else "other",
        "observations": observations,
        "summary": _summary(observations),
        "confidence": 0.9 if observations else 0.3,
    }


def _summary(observations: list[dict]) -> str:
    if not observations:
        return "No laboratory values were recognised in this document."
    outside = [o for o in observations if o["flag"] not in ("normal", "unknown")]
    if not outside:
        return f"{len(observations)} results were found; all are within their reference ranges."
    listed = ", ".join(f"{o['name']} ({o['flag'].replace('_', ' ')})" for o in outside)
    return f"{len(observations)} results were found; {len(outside)} outside the reference range: {listed}."


_WORDS = {
    "low": "below its reference range",
    "high": "above its reference range",
    "critical_low": "far below its reference range",
    "critical_high": "far above its reference range",
    "normal": "within its reference range",
    "unknown": "without a reference range to compare with",
}


def _describe(observations: list[dict]) -> str:
    parts = []
    for o in observations:
        unit = f" {o['unit']}" if o.get("unit") else ""
        rng = (o.get("reference_range") or {}).get("text")
        parts.append(
            f"{o['name']} is {o['value_text']}{unit}, {_WORDS[o['flag']]}" + (f" ({rng})" if rng else "") + "."
        )
    return " ".join(parts)


def _finding_question(found: list[dict]) -> str:
    """The question about one test's values outside its range, in date order."""
    flags = " or ".join(dict.fromkeys(f["flag"].replace("_", " ") for f in found))
    dates = ", ".join(dict.fromkeys(f["date"] for f in found))
    return f"My {found[-1]['name']} was {flags} on {dates}: what could explain it, and should it be rechecked?"


def doctor_report(dated_results: list[dict]) -> dict:
    series: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for entry in sorted(dated_results, key=lambda e: e["date"]):
        for o in entry["result"].get("observations", []):
            series[o.get("loinc") or o["name"]].append((entry["date"], o))
    dates = sorted(e["date"] for e in dated_results)
    trends, findings, findings_by_test = [], [], []
    for points in series.values():
        numeric = [(d, o) for d, o in points if o.get("value") is not None]
        if len(numeric) > 1:
            first, last = numeric[0][1]["value"], numeric[-1][1]["value"]
            change = (last - first) / abs(first) if first else float((last > 0) - (last < 0))
            direction = "stable" if abs(change) <= 0.05 else ("up" if change > 0 else "down")
            o = numeric[-1][1]
            trends.append(
                {
                    "name": o["name"],
                    "loinc": o.get("loinc"),
                    "unit": o.get("unit"),
                    "points": [{"date": d, "value": x["value"]} for d, x in numeric],
                    "direction": direction,
                }
            )
        found = [
            {"name": o["name"], "value_text": o["value_text"], "unit": o.get("unit"), "flag": o["flag"], "date": d}
            for d, o in points
            if o.get("flag") in ("low", "high", "critical_low", "critical_high")
        ]
        findings += found
        if found:
            findings_by_test.append(found)
    # One question per test outside its range (with every date it was), the latest first
    # kept; then tests that moved without leaving their range.
    questions = [_finding_question(found) for found in sorted(findings_by_test, key=lambda f: f[-1]["date"])][-5:]
    asked = {f["name"] for found in findings_by_test for f in found}
    questions += [
        f"My {t['name']} has gone {t['direction']} over this period: is that a concern?"
        for t in trends
        if t["direction"] != "stable" and t["name"] not in asked
    ][:3]
    if not questions:
        questions = ["My results are within their ranges: how often should I have them checked?"]
    summary = (
        f"{len(dated_results)} lab report(s) from {dates[0]} to {dates[-1]}: {len(series)} tests, "
        f"{len(trends)} measured more than once, {len(findings)} value(s) outside the reference range."
    )
    return {
        "title": f"Lab results {dates[0]} to {dates[-1]}",
        "period": {"from": dates[0], "to": dates[-1]},
        "summary": summary,
        "trends": trends,
        "abnormal_findings": findings,
        "questions_for_doctor": questions[:8],
    }
