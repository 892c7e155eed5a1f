"""chat_messages: stores the question and the on-device context as a chat job's input."""

import json
from http import HTTPStatus
from pathlib import Path

from functions.common import jobs, lazy
from functions.common.api import api_handler
from functions.common.http import ApiError, caller_id, make_resolver, parse_body
from functions.common.limits import MAX_CHAT_BYTES

app = make_resolver()
lazy.preload("functions.common.requests")  # the request models (pydantic)
PROMPT_IDS = {p["id"] for p in json.loads(
    (Path(__file__).parent.parent / "common" / "chat_prompts.json").read_text())["prompts"]}


@app.post("/api/v1/chat/messages")
def message():
    user_id = caller_id(app)
    if len((app.current_event.body or "").encode()) > MAX_CHAT_BYTES:
        raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large", "chat requests may be at most 256 KiB")
    from functions.common.requests import ChatRequest  # pydantic and the models on first use

    request = parse_body(app, ChatRequest)
    if request.prompt_id is not None and request.prompt_id not in PROMPT_IDS:
        raise ApiError(HTTPStatus.BAD_REQUEST, "unknown_prompt", "prompt_id is not one of the chat prompts")
    job = jobs.new_job_id("chat", user_id)
    jobs.write_input(job, request.model_dump(mode="json", exclude_none=True))
    return {"job_id": job.value, "status": "processing"}, HTTPStatus.ACCEPTED


handler = api_handler(app)
