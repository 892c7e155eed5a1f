"""doctor_report: premium users' report job, from the results the app sends."""

from http import HTTPStatus

from functions.common import jobs, lazy, users
from functions.common.api import api_handler
from functions.common.http import ApiError, account_gone, caller_id, make_resolver, parse_body

app = make_resolver()
lazy.preload("functions.common.requests")  # the request models (pydantic)
PREMIUM_STATUSES = ("active", "grace_period")


@app.post("/api/v1/process/doctor-report")
def doctor_report():
    user_id = caller_id(app, check_account=False)  # users.plan reads the profile
    from functions.common.requests import DoctorReportRequest  # pydantic and the models on first use

    request = parse_body(app, DoctorReportRequest)
    plan = users.plan(user_id)
    if plan is None:
        raise account_gone()
    if plan.get("type") != "premium" or plan.get("status") not in PREMIUM_STATUSES:
        raise ApiError(HTTPStatus.FORBIDDEN, "premium_required", "doctor reports are a premium feature")
    job = jobs.new_job_id("report", user_id)
    jobs.write_input(job, request.model_dump(mode="json", exclude_none=True))
    return {"job_id": job.value, "status": "processing"}, HTTPStatus.ACCEPTED


handler = api_handler(app)
