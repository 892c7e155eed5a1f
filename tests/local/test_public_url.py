"""A stack a phone can reach: bound beyond loopback with a PUBLIC_URL, it hands out upload
URLs on that address, the whole journey (upload included) goes through its one port,
the presigned POST's policy is still enforced there with S3's answers, and the bind is
announced with a warning. `localhost` stands in for the phone's address of the machine
(10.0.2.2 from the Android emulator, a LAN address from a phone): a name the stack's
own URL (127.0.0.1) never uses, so every URL that names it came from PUBLIC_URL."""

import logging
import re
import socket
import urllib.parse

import boto3
import pytest
import requests

from local.server import LocalStack, exposure_warning
from tests.conftest import JOURNEY_CONFIG
from tests.e2e.conftest import Client
from tests.e2e.test_documents import poll
from tests.fixtures.lab_reports import LIPIDS

PDF = LIPIDS.pdf()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def started():
    port = free_port()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("local").addHandler(handler)
    local = LocalStack(port=port, host="0.0.0.0", public_url=f"http://localhost:{port}/", config=JOURNEY_CONFIG)
    try:
        local.start()
        yield local, [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    finally:
        logging.getLogger("local").removeHandler(handler)
        local.stop()


@pytest.fixture(scope="module")
def stack(started):
    return started[0]


@pytest.fixture(scope="module")
def phone(stack):
    """A client that knows only the public address."""
    return Client(stack.public_url)


@pytest.fixture(scope="module")
def token(phone):
    status, body = phone.onboard("google", "dana-on-the-lan")
    assert status == 201, body
    return body["access_token"]


def ticket(phone, token, size=len(PDF)):
    status, body = phone.call("POST", "/api/v1/process/upload", {"content_type": "application/pdf", "file_size": size},
                              token=token)
    assert status == 201, body
    return body


def post(url, fields, data=PDF, **kwargs):
    return requests.post(url, data=fields, files={"file": ("report.pdf", data, "application/pdf")}, timeout=10,
                         **kwargs)


def s3_code(response):
    found = re.search(r"<Code>(.*?)</Code>", response.text)
    return response.status_code, found and found[1]


def incoming(stack):
    s3 = boto3.client("s3", endpoint_url=stack.aws_endpoint_url, region_name=stack.region,
                      aws_access_key_id="local", aws_secret_access_key="local")
    listed = s3.list_objects_v2(Bucket=stack.program.outputs["temp_bucket"], Prefix="incoming/")
    return {o["Key"] for o in listed.get("Contents", [])}


def test_binding_beyond_loopback_warns_that_there_is_no_production_security(started):
    stack, warnings = started
    assert stack.public_url == f"http://localhost:{stack.port}"  # the trailing slash dropped
    assert len([w for w in warnings if "0.0.0.0" in w]) == 1
    (warning,) = [w for w in warnings if "0.0.0.0" in w]
    assert "none of the production stack's security" in warning and stack.public_url in warning
    for loopback in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert exposure_warning(loopback, "http://x") is None
    for exposed in ("0.0.0.0", "192.168.1.20", "::", "my-laptop.lan"):
        assert "WARNING" in exposure_warning(exposed, "http://x")


def test_moto_stays_on_loopback_and_health_names_the_public_address(stack, phone):
    status, health = phone.call("GET", "/local/health")
    assert status == 200 and health["public_url"] == stack.public_url
    assert urllib.parse.urlsplit(health["aws_endpoint_url"]).hostname == "127.0.0.1"


def test_the_upload_goes_through_the_public_port_and_the_job_completes(stack, phone, token):
    issued = ticket(phone, token)
    bucket = stack.program.outputs["temp_bucket"]
    assert issued["upload"]["url"] == f"{stack.public_url}/local/s3/{bucket}"
    response = post(issued["upload"]["url"], issued["upload"]["fields"])
    assert response.status_code == 204, response.text
    assert stack.aws_endpoint_url not in str(response.headers)  # S3's Location, if any, names no moto port
    status, body = poll(phone, f"/api/v1/process/status/{issued['job_id']}", token)
    assert (status, body["status"]) == (200, "completed"), body
    status, result = phone.call("GET", f"/api/v1/process/result/{issued['job_id']}", token=token)
    assert status == 200 and result["result"]["observations"]


def test_a_tampered_upload_is_refused_with_s3s_answer_through_the_public_port(stack, phone, token):
    issued = ticket(phone, token, size=len(PDF))
    url, fields = issued["upload"]["url"], issued["upload"]["fields"]
    before = incoming(stack)
    refused = [
        post(url, {**fields, "key": fields["key"] + "-other"}),                       # another key
        post(url, fields, data=PDF + b"%" * 10),                                      # over the signed size
        post(url, {**fields, "x-amz-signature": "0" * 64}),                           # forged signature
        post(url.replace(stack.program.outputs["temp_bucket"], stack.program.outputs["events_bucket"]), fields),
    ]
    assert [s3_code(r) for r in refused] == [(403, "AccessDenied"), (400, "EntityTooLarge"),
                                             (403, "SignatureDoesNotMatch"), (403, "AccessDenied")]
    assert all(r.headers["Content-Type"] == "application/xml" and "<RequestId>" in r.text for r in refused)
    assert not incoming(stack) - before  # nothing new (an earlier upload may finish and go meanwhile)


def test_only_the_checked_upload_shape_is_forwarded(stack, phone, token):
    """Requests the policy check would not apply to (a key in the path, a query naming
    another S3 operation, a body that is not a form) never reach the local S3."""
    issued = ticket(phone, token)
    url, fields = issued["upload"]["url"], issued["upload"]["fields"]
    before = incoming(stack)
    multipart_upload = post(url + "?uploads", fields)
    object_post = post(f"{url}/incoming/{issued['job_id']}", fields)
    not_a_form = requests.post(url, data=PDF, headers={"Content-Type": "application/pdf"}, timeout=10)
    assert s3_code(multipart_upload) == (403, "AccessDenied")
    assert s3_code(object_post) == (403, "AccessDenied")
    assert s3_code(not_a_form) == (412, "PreconditionFailed")
    assert s3_code(post(f"{stack.public_url}/local/s3/NOT_A_BUCKET", fields)) == (400, "InvalidBucketName")
    assert not incoming(stack) - before  # nothing new (an earlier upload may finish and go meanwhile)
    # and the ticket itself still works afterwards: nothing above consumed or changed it
    assert post(url, fields).status_code == 204


def test_the_form_as_the_ticket_describes_it_is_accepted_and_the_file_first_is_not(stack, phone, token):
    issued = ticket(phone, token)
    upload = issued["upload"]
    name = upload["file_field"]
    file_first = requests.Request("POST", upload["url"], files=[(name, ("report.pdf", PDF, "application/pdf")),
                                                                *((k, (None, v)) for k, v in upload["fields"].items())])
    refused = requests.Session().send(file_first.prepare(), timeout=10)
    # S3 read nothing before the file: an unsigned POST to a private bucket
    assert s3_code(refused) == (403, "AccessDenied")
    as_described = requests.post(upload["url"], data=upload["fields"], files={name: ("r.pdf", PDF, "application/pdf")},
                                 timeout=10)
    assert as_described.status_code == 204, as_described.text


def test_form_field_names_in_upper_case_are_read_as_s3_reads_them_never_a_500(stack, phone, token):
    """The policy check reads `key` and `file` in any case; the forward to moto once kept
    the sender's `FILE` and `KEY` and moto answered 500 with an HTML page (review of 26)."""
    upload = ticket(phone, token)["upload"]
    fields = {("KEY" if k == "key" else k): v for k, v in upload["fields"].items()}
    answer = requests.post(upload["url"], data=fields, files={"FILE": ("r.pdf", PDF, "application/pdf")}, timeout=10)
    assert answer.status_code == 204, answer.text
    keys = [o["Key"] for o in boto3.client("s3", endpoint_url=stack.aws_endpoint_url, region_name="eu-west-1",
                                             aws_access_key_id="local", aws_secret_access_key="local")
            .list_objects_v2(Bucket=stack.program.outputs["temp_bucket"]).get("Contents", [])]
    assert upload["fields"]["key"] in keys
