"""canary: a synthetic user walking the critical journey through the public API.

Every run, on the stack's schedule: the public endpoint answers an authorized request
(CloudFront or the stage, the authorizer, a function, the account check), then a tiny
generated lab report goes through upload ticket -> presigned POST to S3 -> status until
the job ends -> result, then its files are deleted. It runs as the reserved canary
account (functions/common/canary.py), which holds no personal data, and it emits
`CanarySuccess` (1 or 0), `CanaryDuration` and, when a step fails, `CanaryFailures` by
step: its critical alarm pages through the stack's composite when no user is around to
notice (Bedrock access revoked at night, an expired deploy, a broken authorizer).

Its access token is minted here, with kms:Sign on the canary's own signing key (not the
users' access-token key), for the canary id only and for a few minutes: the authorizer
honours that key's tokens for the canary account alone (README, "The canary").

A failed journey is a measurement, not a function error: the handler returns the outcome,
so Lambda does not retry it and its errors alarm stays for the canary's own bugs.
The public URL comes in the schedule's event (EventBridge's constant input): the API is
created after the functions, so it cannot be in their environment.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid

from aws_lambda_powertools.metrics import MetricUnit

from functions.common import aws, tokens
from functions.common.canary import CANARY_USER_ID
from functions.common.observability import count, instrumented, logger
from functions.common.settings import settings

TOKEN_SECONDS = 300  # a run's token: a run lasts at most the function's timeout
POLL_SECONDS = 2.0
HTTP_TIMEOUT_S = 10
# Left for the result, the cleanup and the metrics once the job is waited for.
RESERVE_MS = 25_000


class StepFailed(Exception):
    def __init__(self, step: str, detail: str):
        super().__init__(f"{step}: {detail}")
        self.step, self.detail = step, detail


def report_pdf() -> bytes:
    """A one-page text PDF of three routine results: no name, no date of birth, no
    identifier; the same bytes every run."""
    lines = (
        "SYNTHETIC LABORATORY REPORT (service check)",
        "Test                Result   Units     Reference range",
        "Glucose             5.1      mmol/L    3.9 - 5.5",
        "Sodium              140      mmol/L    135 - 145",
        "Potassium           4.2      mmol/L    3.5 - 5.1",
    )
    text = "BT /F1 10 Tf 40 780 Td 14 TL " + " ".join(f"({line}) '" for line in lines) + " ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text.encode()),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


_account_ready = False


def ensure_account() -> None:
    """The canary's profile, created once (a conditional put: a second one changes nothing).
    Its role may put this one item only (components/iam.py)."""
    global _account_ready
    if _account_ready:
        return
    from botocore.exceptions import ClientError

    try:
        aws.client("dynamodb").put_item(
            TableName=settings().require("table_name"),
            Item={
                "PK": {"S": f"USER#{CANARY_USER_ID}"},
                "SK": {"S": "PROFILE"},
                "created_at": {"S": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            },
            ConditionExpression="attribute_not_exists(PK)",
        )
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
    _account_ready = True


def _request(method: str, url: str, token: str | None = None, body: bytes | None = None, content_type: str = ""):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:  # noqa: S310 - https or the local stack
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _call(step: str, method: str, url: str, token: str, expected: int, payload: dict | None = None) -> dict:
    body = json.dumps(payload).encode() if payload is not None else None
    try:
        status, raw = _request(method, url, token, body, "application/json" if body is not None else "")
    except (OSError, urllib.error.URLError) as e:
        raise StepFailed(step, f"unreachable ({type(e).__name__})") from None
    if status != expected:
        code = ""
        try:
            code = str((json.loads(raw or b"{}").get("error") or {}).get("code", ""))
        except (ValueError, AttributeError):
            pass
        raise StepFailed(step, f"HTTP {status} {code}".strip())
    return json.loads(raw) if raw else {}


def _post_form(url: str, fields: dict[str, str], file_field: str, content: bytes, content_type: str) -> int:
    """A multipart/form-data POST: every field, then the file last (S3 ignores fields after it)."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="report.pdf"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status, _ = _request("POST", url, body=b"".join(parts), content_type=f"multipart/form-data; boundary={boundary}")
    return status


def walk(base: str, remaining_ms) -> str:
    """The journey; returns the job's end state ("completed") or raises StepFailed."""
    api = base.rstrip("/") + "/api/v1"
    ensure_account()
    token = tokens.issue(CANARY_USER_ID, f"canary-{uuid.uuid4()}", lifetime_s=TOKEN_SECONDS, canary=True).token
    _call("endpoint", "GET", f"{api}/chat/prompts", token, 200)
    pdf = report_pdf()
    ticket = _call(
        "upload",
        "POST",
        f"{api}/process/upload",
        token,
        201,
        {"content_type": "application/pdf", "file_size": len(pdf)},
    )
    job, form = ticket["job_id"], ticket["upload"]
    try:
        status = _post_form(form["url"], form["fields"], form.get("file_field", "file"), pdf, "application/pdf")
    except (OSError, urllib.error.URLError) as e:
        raise StepFailed("s3_post", f"unreachable ({type(e).__name__})") from None
    if not 200 <= status < 300:
        raise StepFailed("s3_post", f"HTTP {status}")
    try:
        state = "pending"
        while state in ("pending", "processing"):
            if remaining_ms() < RESERVE_MS:
                raise StepFailed("process", f"still {state} at the run's deadline")
            time.sleep(POLL_SECONDS)
            state = _call("status", "GET", f"{api}/process/status/{job}", token, 200)["status"]
        if state != "completed":
            raise StepFailed("process", f"job {state}")
        result = _call("result", "GET", f"{api}/process/result/{job}", token, 200)
        if result.get("status") != "completed":
            raise StepFailed("result", f"result {result.get('status')}")
        return state
    finally:
        try:  # its files go at once, whatever happened; the bucket's lifecycle is the fallback
            _call("cleanup", "DELETE", f"{api}/process/cleanup/{job}", token, 204)
        except StepFailed as e:
            logger.warning("canary cleanup failed", extra={"detail": e.detail})


@instrumented()
def handler(event, context):
    base = (event or {}).get("public_url")
    if not base:
        raise ValueError("the schedule's input names no public_url")  # a wiring bug: fails, retried, DLQ
    started = time.monotonic()
    try:
        walk(base, context.get_remaining_time_in_millis)
        ok, step, detail = True, "", ""
    except StepFailed as e:
        ok, step, detail = False, e.step, e.detail
    except Exception as e:  # noqa: BLE001 - any failure of the journey is the measurement
        ok, step, detail = False, "unexpected", type(e).__name__
    duration_ms = (time.monotonic() - started) * 1000
    count("CanarySuccess", 1 if ok else 0)
    count("CanaryDuration", duration_ms, MetricUnit.Milliseconds)
    if ok:
        logger.info("canary journey succeeded", extra={"duration_ms": round(duration_ms)})
        return {"ok": True, "duration_ms": round(duration_ms)}
    count("CanaryFailures", step=step)
    logger.error("canary journey failed", extra={"step": step, "detail": detail, "duration_ms": round(duration_ms)})
    return {"ok": False, "step": step, "detail": detail, "duration_ms": round(duration_ms)}
