"""chat_messages: stores the question and the on-device context as a chat job's input."""

import json
from http import HTTPStatus
from pathlib import Path

from functions.common import jobs, lazy, quotas, users
from functions.common.api import api_handler
from functions.common.http import (
    ApiError,
    account_gone,
    caller_id,
    make_resolver,
    parse_body,
    quota_exceeded,
    refuse_if_jobs_paused,
)
from functions.common.limits import MAX_CHAT_BYTES, MAX_CHAT_TOKENS, estimated_tokens
from functions.common.observability import count

app = make_resolver()
lazy.preload("functions.common.requests")  # the request models (pydantic)
PROMPT_IDS = {
    p["id"] for p in json.loads((Path(__file__).parent.parent / "common" / "chat_prompts.json").read_text())["prompts"]
}


@app.post("/api/v1/chat/messages")
def message():
    user_id = caller_id(app, check_account=False)  # the plan's read is the account check
    refuse_if_jobs_paused()  # on-call paused new model work: nothing read, counted or written
    if len((app.current_event.body or "").encode()) > MAX_CHAT_BYTES:
        raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large", "chat requests may be at most 256 KiB")
    from functions.common.requests import ChatRequest  # pydantic and the models on first use

    request = parse_body(app, ChatRequest, max_bytes=MAX_CHAT_BYTES)
    if request.prompt_id is not None and request.prompt_id not in PROMPT_IDS:
        raise ApiError(HTTPStatus.BAD_REQUEST, "unknown_prompt", "prompt_id is not one of the chat prompts")
    data = request.model_dump(mode="json", exclude_none=True)
    # What the model reads: the whole request as text, and the question once more (tasks.py).
    if estimated_tokens(json.dumps(data, ensure_ascii=False)) + estimated_tokens(request.message) > MAX_CHAT_TOKENS:
        raise ApiError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            "payload_too_large",
            "the conversation and results would not fit the model's context: send less of them",
        )
    found = users.plan_and_identity(user_id)
    if found is None:
        raise account_gone()
    subscription, identity = found
    plan = quotas.plan_of(subscription)
    try:  # counted before anything is written: a refusal changes nothing
        counted = quotas.consume(quotas.holder(identity), "chat_messages", plan)
    except quotas.QuotaExceeded as e:
        count("QuotaRefusals", kind="chat_messages", plan=plan)
        raise quota_exceeded(e.refusal) from None
    job = jobs.new_job_id("chat", user_id)
    try:
        jobs.write_input(job, data)
    except Exception:
        quotas.refund(counted)  # no job was created: the request changes nothing
        raise
    return {"job_id": job.value, "status": "processing"}, HTTPStatus.ACCEPTED


handler = api_handler(app)
