"""result: the outcome of a job of the caller, whatever its kind: a lab report's
AnalysisResult, a doctor report, or a chat job's answer (the same `response` the chat
status route gives). One GET when the outcome is there; HEADs only to say why it is not."""

from http import HTTPStatus

from functions.common import jobs
from functions.common.api import api_handler
from functions.common.http import ApiError, caller_id, make_resolver

app = make_resolver()
# Where each kind's outcome keeps its value (functions/process/tasks.py: Task.key).
VALUE_KEY = {"result": "result", "report": "result", "chat": "response"}


@app.get("/api/v1/process/result/<job_id>")
def result(job_id: str):
    job = jobs.owned(job_id, caller_id(app))
    if job is None:
        raise ApiError(HTTPStatus.NOT_FOUND, "job_not_found", "no such job")
    outcome, state = jobs.outcome_or_state(job)
    if outcome is not None:
        body = {"job_id": job.value, "status": outcome["status"]}
        body.update(
            {"result": outcome[VALUE_KEY[job.kind]]}
            if outcome["status"] == "completed"
            else {"error": outcome["error"]}
        )
        return body
    if state.status == "not_found":
        raise ApiError(HTTPStatus.NOT_FOUND, "job_not_found", "no such job")
    if state.status == "failed":  # processing_timeout: no outcome was ever written
        return {"job_id": job.value, "status": "failed", "error": state.error}
    raise ApiError(HTTPStatus.CONFLICT, "not_ready", f"the job is {state.status}")


handler = api_handler(app)
