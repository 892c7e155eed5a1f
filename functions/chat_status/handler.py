"""chat_status: a chat job of the caller, with the answer once it is there.
One GET when the answer is there; HEADs only while it is not."""

from http import HTTPStatus

from functions.common import jobs
from functions.common.api import api_handler
from functions.common.http import ApiError, caller_id, make_resolver

app = make_resolver()


@app.get("/api/v1/chat/status/<job_id>")
def chat_status(job_id: str):
    job = jobs.owned(job_id, caller_id(app), kinds=("chat",))
    if job is None:
        raise ApiError(HTTPStatus.NOT_FOUND, "job_not_found", "no such job")
    outcome, state = jobs.outcome_or_state(job)
    if outcome is not None:
        body = {"job_id": job.value, "status": outcome["status"]}
        body.update(
            {"response": outcome["response"]} if outcome["status"] == "completed" else {"error": outcome["error"]}
        )
        return body
    if state.status == "not_found":
        raise ApiError(HTTPStatus.NOT_FOUND, "job_not_found", "no such job")
    body = {"job_id": job.value, "status": state.status}
    if state.error:
        body["error"] = state.error
    return body


handler = api_handler(app)
