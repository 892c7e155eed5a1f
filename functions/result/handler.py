"""result: the outcome of a lab-report or doctor-report job of the caller."""

from http import HTTPStatus

from functions.common import jobs
from functions.common.api import api_handler
from functions.common.http import ApiError, caller_id, make_resolver

app = make_resolver()


@app.get("/api/v1/process/result/<job_id>")
def result(job_id: str):
    job = jobs.owned(job_id, caller_id(app), kinds=("result", "report"))
    state = jobs.state(job) if job else None
    if state is None or state.status == "not_found":
        raise ApiError(HTTPStatus.NOT_FOUND, "job_not_found", "no such job")
    if state.status in ("pending", "processing"):
        raise ApiError(HTTPStatus.CONFLICT, "not_ready", f"the job is {state.status}")
    outcome = jobs.read_outcome(job) if state.error_code != "processing_timeout" else None
    if outcome is None:
        return {"job_id": job.value, "status": "failed", "error": state.error}
    body = {"job_id": job.value, "status": outcome["status"]}
    body.update({"result": outcome["result"]} if outcome["status"] == "completed" else {"error": outcome["error"]})
    return body


handler = api_handler(app)
