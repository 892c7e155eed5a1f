"""result: the outcome of a lab-report or doctor-report job of the caller.
One GET when the outcome is there; HEADs only to say why it is not."""

from http import HTTPStatus

from functions.common import jobs
from functions.common.api import api_handler
from functions.common.http import ApiError, caller_id, make_resolver

app = make_resolver()


@app.get("/api/v1/process/result/<job_id>")
def result(job_id: str):
    job = jobs.owned(job_id, caller_id(app), kinds=("result", "report"))
    if job is None:
        raise ApiError(HTTPStatus.NOT_FOUND, "job_not_found", "no such job")
    outcome, state = jobs.outcome_or_state(job)
    if outcome is not None:
        body = {"job_id": job.value, "status": outcome["status"]}
        body.update({"result": outcome["result"]} if outcome["status"] == "completed" else {"error": outcome["error"]})
        return body
    if state.status == "not_found":
        raise ApiError(HTTPStatus.NOT_FOUND, "job_not_found", "no such job")
    if state.status == "failed":  # processing_timeout: no outcome was ever written
        return {"job_id": job.value, "status": "failed", "error": state.error}
    raise ApiError(HTTPStatus.CONFLICT, "not_ready", f"the job is {state.status}")


handler = api_handler(app)
