"""doctor_report: premium users' report job, from the results the app sends."""

import json
from http import HTTPStatus

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
    require_json_media_type,
)
from functions.common.limits import MAX_REPORT_BYTES, MAX_REPORT_TOKENS, estimated_tokens
from functions.common.observability import count

app = make_resolver()
lazy.preload("functions.common.requests")  # the request models (pydantic)


@app.post("/api/v1/process/doctor-report")
def doctor_report():
    user_id = caller_id(app, check_account=False)  # users.plan_and_identity reads the profile
    refuse_if_jobs_paused()  # on-call paused new model work: nothing read, counted or written
    require_json_media_type(app)  # a header: refused before anything is read
    # The plan before the body: a free account's request is refused without being parsed.
    found = users.plan_and_identity(user_id)
    if found is None:
        raise account_gone()
    subscription, identity = found
    plan = quotas.plan_of(subscription)
    if plan != "premium":
        raise ApiError(HTTPStatus.FORBIDDEN, "premium_required", "doctor reports are a premium feature")
    if len((app.current_event.body or "").encode()) > MAX_REPORT_BYTES:
        raise ApiError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            "payload_too_large",
            "the results would not fit the model's context: send fewer or shorter results",
        )
    from functions.common.requests import DoctorReportRequest  # pydantic and the models on first use

    request = parse_body(app, DoctorReportRequest, max_bytes=MAX_REPORT_BYTES)
    data = request.model_dump(mode="json", exclude_none=True)
    if estimated_tokens(json.dumps(data, ensure_ascii=False)) > MAX_REPORT_TOKENS:  # as tasks.py writes it
        raise ApiError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            "payload_too_large",
            "the results would not fit the model's context: send fewer or shorter results",
        )
    try:  # counted before anything is written: a refusal changes nothing
        counted = quotas.consume(quotas.holder(identity), "doctor_reports", plan)
    except quotas.QuotaExceeded as e:
        count("QuotaRefusals", kind="doctor_reports", plan=plan)
        raise quota_exceeded(e.refusal) from None
    job = jobs.new_job_id("report", user_id)
    try:
        jobs.write_input(job, data)
    except Exception:
        quotas.refund(counted)  # no job was created: the request changes nothing
        raise
    return {"job_id": job.value, "status": "processing"}, HTTPStatus.ACCEPTED


handler = api_handler(app)
