"""Documents on the local stack: extraction accuracy of the offline analyser on the
sample reports, and the time from upload to result."""

from __future__ import annotations

import io
import statistics
import time

import requests
from pypdf import PdfReader

from bench.identity import call
from local.offline import labs
from local.offline.provider import pdf_text
from tests.fixtures.lab_reports import SAMPLES, SETS, accuracy

UPLOADS = 20


# accuracy() summed per set with the rules before issue 26 (text extracted without positions,
# so a table drawn as positioned cells, or a page in two columns, came apart), measured on the
# sets as they are since issue 26 added its development layouts; the held-out set is unchanged.
BEFORE = {
    "first samples": {"expected": 33, "found": 33, "values_right": 33, "values_wrong": 0, "flags_right": 33,
                      "flags_wrong": 0, "units_right": 33, "false_positives": 0, "score": 33},
    "development": {"expected": 104, "found": 67, "values_right": 67, "values_wrong": 0, "flags_right": 65,
                    "flags_wrong": 0, "units_right": 67, "false_positives": 0, "score": 67},
    "held out": {"expected": 40, "found": 33, "values_right": 33, "values_wrong": 0, "flags_right": 33,
                 "flags_wrong": 0, "units_right": 33, "false_positives": 0, "score": 33},
}


def extraction() -> list[str]:
    lines = ["### Offline extraction accuracy (sample reports in tests/fixtures/lab_reports.py)", "",
             "Per set of sample reports: the first samples, the development set the rules are tuned on, and "
             "the held-out set, never tuned on. \"Before\" is the rules before issue 26 (text read without "
             "its positions), measured once its table and two-column layouts were added. A value is wrong "
             "when the analyser gave a number other than the printed one (a bound such as `<0.5` read as "
             "exact included), missing when it gave none; a false positive is a value under a test the "
             "report does not have. Score: right "
             "values minus wrong values and false positives, over expected.", "",
             "| set | rules | expected | values right | values wrong | values missing | flags right | "
             "flags wrong | units right | false positives | score |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, samples in SETS.items():
        for rules, total in (("before", BEFORE[name]), ("now", set_accuracy(samples))):
            missing = total["expected"] - total["values_right"] - total["values_wrong"]
            lines.append(f"| {name} ({len(samples)} reports) | {rules} | {total['expected']} | "
                         f"{total['values_right']} | {total['values_wrong']} | {missing} | {total['flags_right']} | "
                         f"{total['flags_wrong']} | {total['units_right']} | {total['false_positives']} | "
                         f"{total['score'] / total['expected']:.0%} |")
    return lines


def set_accuracy(samples) -> dict:
    """accuracy() summed over the reports of one set, read from their PDFs like a job does."""
    total: dict = {}
    for sample in samples:
        text = pdf_text(PdfReader(io.BytesIO(sample.pdf())))
        for key, value in accuracy(labs.extract(text), sample.truth).items():
            total[key] = total.get(key, 0) + value
    return total


def calls_per_route(base, token, counter) -> list[str]:
    """One lab-report job, route by route; the process function's calls happen in between."""
    lines = ["### AWS calls per request, made by the functions", "", "| request | calls | detail |",
             "| --- | --- | --- |"]

    def row(label, calls):
        lines.append(f"| {label} | {sum(calls.values())} | "
                     + ", ".join(f"{k} x{v}" for k, v in sorted(calls.items())) + " |")

    pdf = SAMPLES[0].pdf()
    counter.take()
    ticket = call(base, "POST", "/api/v1/process/upload", {"content_type": "application/pdf", "file_size": len(pdf)},
                  token)[1]
    row("POST upload (presigned POST, signed locally)", counter.take())
    call(base, "GET", f"/api/v1/process/status/{ticket['job_id']}", token=token)
    row("GET status while pending", counter.take())
    requests.post(ticket["upload"]["url"], data=ticket["upload"]["fields"],
                  files={"file": ("r.pdf", pdf, "application/pdf")}, timeout=10).raise_for_status()
    deadline = time.monotonic() + 30
    while not counter.calls.get("s3.DeleteObject") and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    row("process (one job, offline model)", counter.take())
    call(base, "GET", f"/api/v1/process/status/{ticket['job_id']}", token=token)
    row("GET status when completed", counter.take())
    call(base, "GET", f"/api/v1/process/result/{ticket['job_id']}", token=token)
    row("GET result", counter.take())
    call(base, "DELETE", f"/api/v1/process/cleanup/{ticket['job_id']}", token=token)
    row("DELETE cleanup", counter.take())
    return lines + [""]


def run(stack, counter) -> str:
    base = stack.url
    id_token = call(base, "POST", "/local/idp/apple/token", {"sub": "bench-docs"})[1]["id_token"]
    token = call(base, "POST", "/api/v1/auth/oauth-onboarding", {
        "provider": "apple", "id_token": id_token, "device": {"platform": "ios", "device_id": "b"},
        "consents": {"privacy_policy": {"version": "1", "accepted": True},
                     "terms_of_service": {"version": "1", "accepted": True}}})[1]["access_token"]
    pdf = SAMPLES[0].pdf()
    timings = []
    for _ in range(UPLOADS):
        started = time.perf_counter()
        ticket = call(base, "POST", "/api/v1/process/upload", {"content_type": "application/pdf",
                                                               "file_size": len(pdf)}, token)[1]
        requests.post(ticket["upload"]["url"], data=ticket["upload"]["fields"],
                      files={"file": ("r.pdf", pdf, "application/pdf")}, timeout=10).raise_for_status()
        deadline = time.monotonic() + 30
        while call(base, "GET", f"/api/v1/process/status/{ticket['job_id']}", token=token)[1]["status"] not in (
                "completed", "failed") and time.monotonic() < deadline:
            time.sleep(0.02)
        status, body = call(base, "GET", f"/api/v1/process/result/{ticket['job_id']}", token=token)
        assert status == 200 and body["status"] == "completed", body
        timings.append(time.perf_counter() - started)
    median = statistics.median(timings)
    lines = ["## Documents (local stack)", "", *calls_per_route(base, token, counter), *extraction(), "",
             f"### Upload to result ({UPLOADS} lab reports, one after the other)", "",
             "Ticket, presigned POST to moto, dispatch (the poller checks every 0.2 s), offline analysis, "
             "status polls every 20 ms, result.", "",
             f"median {median:.2f} s, slowest {max(timings):.2f} s.", ""]
    return "\n".join(lines)
