"""upload: a presigned POST for the caller's new lab-report job. S3 checks the signed
policy (bucket, key, size range, content type, SSE-KMS with the stack's key); the only
AWS call is the ticket's usage record (common/usage.py), the upload funnel's first step.

Signed with SigV4 (`x-amz-algorithm`, `x-amz-credential`, `x-amz-date`,
`x-amz-signature`, and `x-amz-security-token` from the role's session credentials) for
the regional virtual-hosted URL: the S3 client's configuration is in common/aws.py.
https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-UsingHTTPPOST.html
https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html
"""

from http import HTTPStatus

from functions.common import aws, jobs, lazy, quotas, usage, users
from functions.common.api import api_handler
from functions.common.http import (
    ApiError,
    account_gone,
    caller_id,
    make_resolver,
    parse_body,
    quota_exceeded,
    refuse_if_jobs_paused,
)
from functions.common.observability import count
from functions.common.settings import settings

app = make_resolver()
# S3 reads a POST's form up to the file and ignores every field after it (a required one
# then reads as missing): the ticket says so, with the file field's name.
# https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html
FILE_FIELD = "file"
UPLOAD_NOTE = (
    "POST multipart/form-data to url: every entry of fields, then the file as the last field, "
    "named file (S3 ignores fields after the file)."
)
lazy.preload("functions.common.requests")  # the request models (pydantic)


@app.post("/api/v1/process/upload")
def upload():
    # pydantic and the models on first use: a cold start without a valid request never loads them
    from functions.common.requests import MAX_PDF_BYTES, MAX_UPLOAD_BYTES, UPLOAD_TYPES, UploadRequest

    user_id = caller_id(app, check_account=False)  # the plan's read is the account check
    refuse_if_jobs_paused()  # on-call paused new model work: nothing read, counted or written
    request = parse_body(app, UploadRequest)
    content_type = request.content_type.split(";")[0].strip().lower()
    if content_type not in UPLOAD_TYPES:
        raise ApiError(
            HTTPStatus.BAD_REQUEST, "unsupported_media_type", f"content_type must be one of {', '.join(UPLOAD_TYPES)}"
        )
    if request.file_size > MAX_UPLOAD_BYTES:
        raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "file_too_large", "files may be at most 10 MiB")
    if content_type == "application/pdf" and request.file_size > MAX_PDF_BYTES:
        raise ApiError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            "file_too_large",
            "PDFs may be at most 4.5 MB (the model's limit for one document)",
        )
    found = users.plan_identity_and_analytics_id(user_id)
    if found is None:
        raise account_gone()
    subscription, identity, analytics_id = found
    plan = quotas.plan_of(subscription)
    try:  # counted before anything is written: a refusal changes nothing
        counted = quotas.consume(quotas.holder(identity), "documents", plan)
    except quotas.QuotaExceeded as e:
        count("QuotaRefusals", kind="documents", plan=plan)
        raise quota_exceeded(e.refusal) from None
    job = jobs.new_job_id("result", user_id)
    key_arn = settings().require("data_key_arn")
    encryption = {"x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id": key_arn}
    try:
        post = aws.client("s3").generate_presigned_post(
            Bucket=settings().require("temp_bucket"),
            Key=job.incoming,
            Fields={"Content-Type": content_type, **encryption},
            Conditions=[
                {"Content-Type": content_type},
                ["content-length-range", 1, request.file_size],
                *({k: v} for k, v in encryption.items()),
            ],
            ExpiresIn=jobs.UPLOAD_URL_SECONDS,
        )
        usage.write(usage.ticket(user_id, job.value, content_type, analytics_id=analytics_id))
    except Exception:
        quotas.refund(counted)  # no ticket was issued: the request changes nothing
        raise
    count("UploadsStarted", content_type=content_type)
    return {
        "job_id": job.value,
        "upload": {"url": post["url"], "fields": post["fields"], "file_field": FILE_FIELD, "note": UPLOAD_NOTE},
        "expires_in": jobs.UPLOAD_URL_SECONDS,
    }, HTTPStatus.CREATED


handler = api_handler(app)
