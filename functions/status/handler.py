"""status: where a job of the caller stands, from S3 alone (two HEADs at most)."""

from http import HTTPStatus
from typing import Any

from functions.common import jobs
from functions.common.api import api_handler
from functions.common.http import ApiError, caller_id, make_resolver

app = make_resolver()


def not_found() -> ApiError:
    return ApiError(HTTPStatus.NOT_FOUND, "job_not_found", "no such job")


@app.get("/api/v1/process/status/<job_id>")
def status(job_id: str):
    job = jobs.owned(job_id, caller_id(app))
    if job is None:
        raise not_found()
    state = jobs.state(job)
    if state.status == "not_found":
        raise not_found()
    body: dict[str, Any] = {"job_id": job.value, "status": state.status}
    if state.error:
        body["error"] = state.error
    return body


handler = api_handler(app)
