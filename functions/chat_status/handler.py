"""chat_status: a chat job of the caller, with the answer once it is there."""

from http import HTTPStatus

from functions.common import jobs
from functions.common.api import api_handler
from functions.common.http import ApiError, caller_id, make_resolver

app = make_resolver()


@app.get("/api/v1/chat/status/<job_id>")
def chat_status(job_id: str):
    job = jobs.owned(job_id, caller_id(app), kinds=("chat",))
    state = jobs.state(job) if job else None
    if state is None or state.status == "not_found":
        raise ApiError(HTTPStatus.NOT_FOUND, "job_not_found", "no such job")
    body = {"job_id": job.value, "status": state.status}
    if state.status == "completed":
        outcome = jobs.read_outcome(job)
        if outcome is None:
            raise ApiError(HTTPStatus.NOT_FOUND, "job_not_found", "no such job")
        body["response"] = outcome["response"]
    elif state.error:
        body["error"] = state.error
    return body


handler = api_handler(app)
