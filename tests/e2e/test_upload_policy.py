"""The presigned POST through the local stack as S3 checks it: a tampered or late upload
is refused with S3's status and code, nothing reaches the bucket or `process`; the
upload as issued is stored (204) and processed."""

import re
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import boto3
import pytest
import requests

from functions.common import jobs
from tests.fixtures.lab_reports import LIPIDS
from tests.e2e.test_documents import poll

PDF = LIPIDS.pdf()


@pytest.fixture(scope="module")
def carol(client):
    return client.onboard("google", "carol-upload-policy")[1]["access_token"]


@pytest.fixture
def processed(stack, monkeypatch):
    """The keys `process` is invoked with while the test runs."""
    keys, lock, invoke = [], threading.Lock(), stack.functions.invoke

    def recording(name, event, **kwargs):
        if name == "process":
            with lock:
                keys.extend(r["s3"]["object"]["key"] for r in event["Records"])
        return invoke(name, event, **kwargs)

    monkeypatch.setattr(stack.functions, "invoke", recording)
    return keys


def ticket(client, token, size, content_type="application/pdf"):
    status, body = client.call("POST", "/api/v1/process/upload", {"content_type": content_type, "file_size": size},
                               token=token)
    assert status == 201, body
    return body


def post(ticket, data=PDF, content_type="application/pdf", **changes):
    fields = {**ticket["upload"]["fields"], **changes}
    return requests.post(ticket["upload"]["url"], data=fields, files={"file": ("report", data, content_type)},
                         timeout=10)


def s3_error(response):
    code = re.search(r"<Code>(.*?)</Code>", response.text)
    message = re.search(r"<Message>(.*?)</Message>", response.text)
    return response.status_code, code and code[1], message and message[1]


def incoming_keys(stack):
    s3 = boto3.client("s3", endpoint_url=stack.aws_endpoint_url, region_name=stack.region,
                      aws_access_key_id="local", aws_secret_access_key="local")
    listed = s3.list_objects_v2(Bucket=stack.program.outputs["temp_bucket"], Prefix="incoming/")
    return {o["Key"] for o in listed.get("Contents", [])}


def test_the_upload_as_issued_is_stored_and_processed(client, stack, carol, processed):
    issued = ticket(client, carol, len(PDF))
    response = post(issued)
    assert response.status_code == 204, response.text
    assert poll(client, f"/api/v1/process/status/{issued['job_id']}", carol)[1]["status"] == "completed"
    assert f"incoming/{issued['job_id']}" in processed


def _bigger(t):
    return {"data": PDF + b"%" * 10}


def _other_type(t):
    return {"content_type": "image/png", "Content-Type": "image/png"}


def _other_key(t):
    return {"key": f"incoming/{t['job_id'][:-1]}X"}


def _wrong_signature(t):
    signature = t["upload"]["fields"]["x-amz-signature"]
    return {"x-amz-signature": signature[:-1] + ("0" if signature[-1] != "0" else "1")}


def _extra_metadata(t):
    return {"x-amz-meta-note": "hello"}


def _sigv2(t):
    fields = {k: v for k, v in t["upload"]["fields"].items() if not k.startswith("x-amz-")}
    return {"replace": {**fields, "AWSAccessKeyId": "local", "signature": "c2lnbmF0dXJl"}}


@pytest.mark.parametrize("tamper, expected", [
    (_bigger, (400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")),
    (_other_type, (403, "AccessDenied",
                   'Invalid according to Policy: Policy Condition failed: ["eq", "$Content-Type", "application/pdf"]')),
    (_other_key, (403, "AccessDenied", "Invalid according to Policy: Policy Condition failed: ")),
    (_wrong_signature, (403, "SignatureDoesNotMatch", "The request signature we calculated does not match")),
    (_extra_metadata, (403, "AccessDenied", "Invalid according to Policy: Extra input fields: x-amz-meta-note")),
    (_sigv2, (400, "InvalidRequest", "The authorization mechanism you have provided is not supported.")),
], ids=["larger-than-declared", "other-content-type", "other-key", "wrong-signature", "extra-field", "sigv2"])
def test_a_tampered_upload_is_refused_and_reaches_nothing(client, stack, carol, processed, tamper, expected):
    issued = ticket(client, carol, len(PDF))
    change = tamper(issued)
    data, content_type = change.pop("data", PDF), change.pop("content_type", "application/pdf")
    if "replace" in change:
        response = requests.post(issued["upload"]["url"], data=change["replace"],
                                 files={"file": ("report", data, content_type)}, timeout=10)
    else:
        response = post(issued, data, content_type, **change)
    status, code, message = s3_error(response)
    assert (status, code) == expected[:2] and message.replace("&quot;", '"').startswith(expected[2]), response.text
    _assert_nothing_reached(client, stack, carol, processed, issued, change.get("key"))


@contextmanager
def local_s3_time(stack, seconds_from_now: float):
    """The local S3's clock moved instead of waiting for it."""
    moved, real = datetime.now(timezone.utc) + timedelta(seconds=seconds_from_now), stack.s3_post_policy.clock
    stack.s3_post_policy.clock = lambda: moved
    try:
        yield
    finally:
        stack.s3_post_policy.clock = real


def test_an_expired_policy_is_refused(client, stack, carol, processed):
    issued = ticket(client, carol, len(PDF))
    with local_s3_time(stack, jobs.UPLOAD_URL_SECONDS + 1):
        assert s3_error(post(issued)) == (403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    _assert_nothing_reached(client, stack, carol, processed, issued)


def test_a_policy_is_good_until_it_expires(client, stack, carol):
    issued = ticket(client, carol, len(PDF))
    with local_s3_time(stack, jobs.UPLOAD_URL_SECONDS - 5):
        assert post(issued).status_code == 204


def _assert_nothing_reached(client, stack, carol, processed, refused, other_key=None):
    """Nothing stored; then an upload as issued is processed, and `process` has seen it
    and never the refused one (the dispatcher lists the bucket in order)."""
    refused_keys = {f"incoming/{refused['job_id']}", *([other_key] if other_key else [])}
    assert not refused_keys & incoming_keys(stack)
    barrier = ticket(client, carol, len(PDF))
    assert post(barrier).status_code == 204
    assert poll(client, f"/api/v1/process/status/{barrier['job_id']}", carol)[1]["status"] in ("completed", "failed")
    assert f"incoming/{barrier['job_id']}" in processed and not refused_keys & set(processed)
    assert client.call("GET", f"/api/v1/process/status/{refused['job_id']}", token=carol)[1]["status"] == "pending"
