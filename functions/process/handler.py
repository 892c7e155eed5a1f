"""process: turns `incoming/{jobId}` into `outgoing/{jobId}`, completed or failed.

Triggered by S3 ObjectCreated under incoming/. Every job ends with an outcome: input the
model cannot use, a reply that fails validation, or a model still unavailable after
retries (with backoff, inside the function's deadline) end as `failed` with a code.
Only S3 failures propagate, so Lambda retries the event and finally parks it in the
dead-letter queue. A retried delivery finds the outcome written and does nothing.

AWS calls per job: HEAD outgoing + PUT claim + GET incoming + the model + the account
check + the usage record (one PutItem, common/usage.py: with a lab report's file type,
pages and count of values found, so a document read with nothing recognised is counted)
+ PUT outgoing + DELETE incoming.
Every model call is bounded by the time left before the function's timeout and before
the job's own processing timeout, so an outcome is always written. The account check
(common/accounts.py) comes right before the usage record and the outcome: a job whose
account was deleted meanwhile (an upload landing after DELETE with a presigned POST
issued before it) leaves nothing behind. A job cleaned up before its upload landed
(cleanup's tombstone in outgoing/) is never analysed.
"""

from __future__ import annotations

import json
import random
import re
import time
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

from functions.common import accounts, aws, jobs, lazy, usage
from functions.common.canary import is_canary
from functions.common.clock import Clock
from functions.common.observability import count, instrumented, log_job, logger
from functions.common.settings import settings
from functions.process.providers import InputError, provider, tool_input

if TYPE_CHECKING:
    from functions.process.tasks import Task

# The tasks (pydantic result models, prompts) load with the first job that reaches the
# model, not at init: malformed keys and repeated deliveries never need them.
lazy.preload("functions.process.tasks")

RETRYABLE = {
    "ThrottlingException",
    "ServiceUnavailableException",
    "ModelNotReadyException",
    "InternalServerException",
    "ModelTimeoutException",
    "TooManyRequestsException",
}
OUTCOME_MARGIN_S = 10.0  # time kept to write the outcome after the last model attempt
BASE_DELAY_S = 0.5


# Why the model refused a call, as the `reason` of ModelFailures: each has its own fix
# in the runbook. AccessDeniedException is also what Bedrock answers while the account
# has not enabled the model (Anthropic's one-time use case form, the Marketplace
# subscription): https://docs.aws.amazon.com/bedrock/latest/userguide/model-access.html
REFUSALS = {
    "AccessDeniedException": "access_denied",
    "ResourceNotFoundException": "model_not_found",
    "ValidationException": "request_invalid",
}

# ValidationException names two different faults. Ours, the same for every job: "The
# provided model identifier is invalid", "Your AWS account is not authorized to invoke
# this API operation", a malformed request. And the user's, one input the model cannot
# take: "Input is too long for requested model." (input and output tokens over the
# model's quota). Both are listed in
# https://repost.aws/knowledge-center/bedrock-validation-exception-errors. Only ours pages.
# "too long" only: Bedrock's size refusals of a block we prepared ("image exceeds max
# limit of 3.75 MB") are our bug (images.py scales photos to fit) and must page.
_INPUT_TOO_LONG = re.compile(r"\btoo long\b", re.I)


class ModelUnavailable(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


clock = Clock()  # the real clocks; replaced only through use_clock


def use_clock(replacement: Clock) -> Clock:
    """Every later invocation reads its time and waits between model attempts with
    `replacement` (the local stack's, whose waits return at once; a test's); returns the
    clock it replaces, to put back."""
    global clock
    previous, clock = clock, replacement
    return previous


MIN_CALL_S = 2.0  # a model call with less time than this left is not started


def call_model(task: Task, deadline: float) -> dict:
    """Converse with backoff and jitter on throttling and transient errors, each call
    bounded by the time left, so the last one ends by the deadline too."""
    attempt = 0
    while True:
        attempt += 1
        left = deadline - clock.monotonic()
        if left < MIN_CALL_S:
            raise ModelUnavailable("unavailable")
        try:
            return provider().converse(system=task.system, messages=task.messages, tool=task.tool, timeout_s=left)
        except ClientError as e:
            code = e.response["Error"]["Code"]
            if code == "ValidationException" and _INPUT_TOO_LONG.search(e.response["Error"].get("Message", "")):
                raise InputError("document_too_long", reason="model_input_too_long") from None
            if code not in RETRYABLE:
                logger.error("model call refused", extra={"error_code": code})
                raise ModelUnavailable(REFUSALS.get(code, "refused")) from None
            reason = code
        except (ReadTimeoutError, ConnectionError) as e:
            reason = type(e).__name__
        count("ModelRetries", reason=reason)
        delay = min(20.0, BASE_DELAY_S * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        if clock.monotonic() + delay + 1 >= deadline:
            raise ModelUnavailable("unavailable")
        clock.sleep(delay)


def run(
    job: jobs.JobId,
    body: bytes,
    content_type: str,
    deadline: float,
    use: usage.ModelUse,
    document: usage.Document | None = None,
) -> dict:
    """The job's outcome (completed or failed); raises only for bugs. `use` receives what
    the model calls cost, `document` a lab report's pages and count of values found."""
    document = document or usage.Document()
    from pydantic import ValidationError

    from functions.process.tasks import chat_task, lab_task, report_task

    try:
        tasks: dict[str, Callable[[], Task]] = {
            "result": lambda: lab_task(body, content_type),
            "chat": lambda: chat_task(body),
            "report": lambda: report_task(body),
        }
        task = tasks[job.kind]()
        document.page_count = task.pages
        document.input_type = task.input_type or document.input_type
        started = time.monotonic()
        use.model_id = provider().model_id
        try:
            reply = call_model(task, deadline)
        finally:
            use.latency_ms = int((time.monotonic() - started) * 1000)
        count("ModelLatency", use.latency_ms, MetricUnit.Milliseconds)
        tokens = reply["usage"]  # required in every Converse response (API_runtime_ConverseResponse)
        use.input_tokens, use.output_tokens = tokens["inputTokens"], tokens["outputTokens"]
        count("InputTokens", use.input_tokens)
        count("OutputTokens", use.output_tokens)
        draft = task.draft.model_validate_json(json.dumps(tool_input(reply, task.tool_name)))
        value = task.finish(draft, use.model_id)
        if job.kind == "result":
            document.observation_count = value["observation_count"]  # 0: completed, nothing recognised
        return jobs.completed(job, task.key, value)
    except InputError as e:
        count("DocumentsRefused", kind=job.kind, reason=e.reason)
        logger.info("job input refused", extra={"job_kind": job.kind, "error_code": e.code, "reason": e.reason})
        return jobs.failed(job, e.code)
    except ModelUnavailable as e:
        count("ModelFailures", kind=job.kind, reason=e.reason)
        return jobs.failed(job, "model_unavailable")
    except (ValidationError, KeyError, TypeError):
        # Counted apart from ModelFailures: one document written to mislead the model
        # makes an invalid reply as surely as a model regression does, so it warns only.
        count("RepliesRejected", kind=job.kind)
        logger.warning("model reply failed validation", extra={"job_kind": job.kind})
        return jobs.failed(job, "invalid_model_reply")


def _account_gone(job: jobs.JobId, s3, bucket: str) -> bool:
    """The job's account no longer exists: its input is removed, nothing else happens."""
    if accounts.exists(job.user_id):
        return False
    count("JobsRejected", reason="account_deleted")
    s3.delete_object(Bucket=bucket, Key=job.incoming)
    return True


def process(key: str, deadline: float, owner: str) -> None:
    """`owner`: the invocation's request id, the same for Lambda's retries of one event."""
    job = jobs.parse(key.removeprefix("incoming/")) if key.startswith("incoming/") else None
    s3, bucket = aws.client("s3"), settings().require("temp_bucket")
    if job is None:
        logger.remove_keys(["job_ref", "job_kind"])  # a previous record's job, in a batch of several
        count("JobsRejected", reason="malformed_key")
        s3.delete_object(Bucket=bucket, Key=key)
        return
    log_job(job.value, job.kind)
    existing = jobs.outcome_status(job)
    if existing is not None:
        if existing == jobs.DELETED:
            count("JobsRejected", reason="cleaned_up")  # the app deleted the job before its upload landed
        else:
            count("DuplicateDeliveries", kind=job.kind)
        s3.delete_object(Bucket=bucket, Key=job.incoming)
        return
    if _account_gone(job, s3, bucket):  # deleted since its ticket: no model call for nobody
        return
    if not jobs.claim(job, owner):
        count("DuplicateDeliveries", kind=job.kind)  # another delivery is analysing it
        return
    try:
        obj = s3.get_object(Bucket=bucket, Key=job.incoming)
    except ClientError as e:
        if e.response["Error"]["Code"] == "NoSuchKey":
            return  # already processed and removed by an earlier delivery
        raise
    # The job reads processing_timeout 15 minutes after its upload: finish before that.
    timeout_at = obj["LastModified"].timestamp() + jobs.PROCESSING_TIMEOUT_SECONDS - OUTCOME_MARGIN_S
    deadline = min(deadline, clock.monotonic() + (timeout_at - clock.wall()))
    use = usage.ModelUse()
    document = usage.Document(input_type=usage.input_type(obj["ContentType"])) if job.kind == "result" else None
    if deadline <= clock.monotonic():
        outcome = jobs.failed(job, "processing_timeout")  # what the job already reads
    else:
        outcome = run(job, obj["Body"].read(), obj["ContentType"], deadline, use, document)
    # Deleted during the analysis: its outcome is not written. The same read gives the
    # account's analytics id, the lake's only name for the person (no extra round trip).
    analytics_id = accounts.analytics_id(job.user_id)
    if analytics_id is None:
        count("JobsRejected", reason="account_deleted")
        s3.delete_object(Bucket=bucket, Key=job.incoming)
        return
    # Before the outcome: a failure here is retried with the job (Lambda's retry keeps the
    # claim), while after it a retry would find the outcome and the record would be lost.
    usage.write(
        usage.record(
            job.user_id,
            job.value,
            job.kind,
            outcome,
            use,
            document,
            uploaded_at=obj["LastModified"].timestamp(),
            analytics_id=analytics_id,
        )
    )
    if not jobs.write_outcome(job, outcome):
        count("DuplicateDeliveries", kind=job.kind)  # a terminal state is never replaced
    s3.delete_object(Bucket=bucket, Key=job.incoming)
    # Jobs is product use (the executive dashboard's documents processed): the synthetic
    # user's are counted apart. Its model signals (ModelFailures, latency, tokens) stay in
    # the totals: its failures are what its alarm and on-call need to see.
    if is_canary(job.user_id):
        count("CanaryJobs", outcome=outcome["status"])
    else:
        count("Jobs", kind=job.kind, outcome=outcome["status"])
    logger.info(
        "job finished",
        extra={
            "job_kind": job.kind,
            "status": outcome["status"],
            "error_code": (outcome.get("error") or {}).get("code"),
        },
    )


@instrumented()
def handler(event, context):
    deadline = clock.monotonic() + context.get_remaining_time_in_millis() / 1000 - OUTCOME_MARGIN_S
    for record in event.get("Records", []):
        process(urllib.parse.unquote_plus(record["s3"]["object"]["key"]), deadline, context.aws_request_id)
