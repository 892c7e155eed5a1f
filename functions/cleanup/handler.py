"""cleanup: deletes a job's files (idempotent for the caller's own jobs)."""

from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response

from functions.common import jobs
from functions.common.api import api_handler
from functions.common.http import ApiError, caller_id, make_resolver

app = make_resolver()


@app.delete("/api/v1/process/cleanup/<job_id>")
def cleanup(job_id: str):
    job = jobs.owned(job_id, caller_id(app))
    if job is None:
        raise ApiError(HTTPStatus.NOT_FOUND, "job_not_found", "no such job")
    jobs.delete(job)
    return Response(status_code=HTTPStatus.NO_CONTENT, body="")


handler = api_handler(app)
