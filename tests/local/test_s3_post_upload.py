"""The WSGI middleware in front of moto: which requests are POST Object uploads, how the
form is read, what a refused upload answers and what an accepted one passes on."""

import io
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.config import Config
from werkzeug.http import parse_options_header
from werkzeug.test import EnvironBuilder

from local.s3_post_upload import S3PostPolicy, parse_upload, post_object_bucket

BUCKET, KEY = "serenya-dev-temp", "incoming/result_job"


def fields(expires=300):
    s3 = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="local", aws_secret_access_key="local",
                      config=Config(signature_version="s3v4"))
    return s3.generate_presigned_post(BUCKET, KEY, Fields={"Content-Type": "application/pdf"},
                                      Conditions=[{"Content-Type": "application/pdf"},
                                                  ["content-length-range", 1, 100]], ExpiresIn=expires)["fields"]


def environ(form: dict, path=f"/{BUCKET}", host="127.0.0.1:5000", query="", data=b"%PDF-1.7 x"):
    return EnvironBuilder(path=path, method="POST", headers={"Host": host}, query_string=query,
                          data={**form, "file": (io.BytesIO(data), "report.pdf", "application/pdf")}).get_environ()


class Moto:
    """Stands in for moto's app: records what reaches it."""

    def __init__(self):
        self.bodies: list[bytes] = []

    def __call__(self, environ, start_response):
        self.bodies.append(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        start_response("204 No Content", [])
        return [b""]


def call(app, env):
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app(env, start_response))
    return seen["status"], seen["headers"], body


@pytest.mark.parametrize("path, host, query, bucket", [
    (f"/{BUCKET}", "127.0.0.1:5000", "", BUCKET),
    (f"/{BUCKET}/", "127.0.0.1:5000", "", BUCKET),
    ("/", f"{BUCKET}.s3.eu-west-1.amazonaws.com", "", BUCKET),
    ("/", f"{BUCKET}.s3.amazonaws.com", "", BUCKET),
    ("/", f"{BUCKET}.localhost:5000", "", BUCKET),
    (f"/{BUCKET}/some/key", "127.0.0.1:5000", "", None),   # not POST Object
    (f"/{BUCKET}", "127.0.0.1:5000", "delete", None),     # DeleteObjects
    ("/", "127.0.0.1:5000", "", None),
])
def test_post_object_requests_are_recognised(path, host, query, bucket):
    assert post_object_bucket(environ({"key": KEY}, path=path, host=host, query=query)) == bucket


def test_other_requests_are_not_post_object():
    env = EnvironBuilder(path=f"/{BUCKET}", method="POST", data=b"<Delete/>",
                         content_type="application/xml").get_environ()
    assert post_object_bucket(env) is None
    assert post_object_bucket(EnvironBuilder(path=f"/{BUCKET}/k", method="PUT", data=b"x").get_environ()) is None


def test_fields_after_the_file_are_ignored_as_s3_ignores_them():
    env = environ({"key": KEY})
    body = env["wsgi.input"].read()
    boundary = parse_options_header(env["CONTENT_TYPE"])[1]["boundary"]
    late = (f'--{boundary}\r\nContent-Disposition: form-data; name="x-amz-meta-late"\r\n\r\nv\r\n'
            f"--{boundary}--\r\n").encode()
    body = body[:body.rindex(f"--{boundary}--".encode())] + late
    upload = parse_upload(body, boundary)
    assert upload.form.fields == (("key", KEY),) and upload.form.file_size == len(b"%PDF-1.7 x")


@pytest.mark.parametrize("body", [b"garbage", b"--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk"])
def test_a_body_that_is_not_multipart_is_malformed(body):
    assert parse_upload(body, "b") is None


def test_an_accepted_upload_reaches_moto_without_the_ignored_fields():
    moto = Moto()
    app = S3PostPolicy(moto, "eu-west-1", {"local": "local"})
    env = environ({**fields(), "x-ignore-submit": "Upload"})
    status, _, _ = call(app, env)
    assert status.startswith("204") and len(moto.bodies) == 1
    forwarded = moto.bodies[0]
    assert b'name="x-ignore-submit"' in forwarded and b"%PDF-1.7 x" in forwarded
    assert forwarded.rstrip().endswith(b"--")  # the file is the last part


def test_a_refused_upload_gets_s3s_xml_error_and_never_reaches_moto():
    moto = Moto()
    app = S3PostPolicy(moto, "eu-west-1", {"local": "local"})
    status, headers, body = call(app, environ({**fields(), "Content-Type": "text/html"}))
    assert status == "403 Forbidden" and headers["Content-Type"] == "application/xml"
    assert b"<Code>AccessDenied</Code>" in body and body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert moto.bodies == [] and app.refused == ["AccessDenied"]


def test_the_clock_is_read_for_each_upload():
    moto = Moto()
    app = S3PostPolicy(moto, "eu-west-1", {"local": "local"})
    form = fields(expires=60)
    app.clock = lambda: datetime.now(timezone.utc) + timedelta(seconds=61)
    assert call(app, environ(form))[0] == "403 Forbidden"
    app.clock = lambda: datetime.now(timezone.utc)
    assert call(app, environ(form))[0].startswith("204")


def test_a_malformed_body_is_400_malformed_post_request():
    moto = Moto()
    app = S3PostPolicy(moto, "eu-west-1", {"local": "local"})
    env = EnvironBuilder(path=f"/{BUCKET}", method="POST", data=b"not multipart",
                         content_type="multipart/form-data; boundary=xyz").get_environ()
    status, _, body = call(app, env)
    assert status == "400 Bad Request" and b"<Code>MalformedPOSTRequest</Code>" in body and moto.bodies == []


def test_requests_that_are_not_uploads_pass_untouched():
    moto = Moto()
    app = S3PostPolicy(moto, "eu-west-1", {"local": "local"})
    env = EnvironBuilder(path=f"/{BUCKET}/k", method="PUT", data=b"plain put").get_environ()
    assert call(app, env)[0].startswith("204") and moto.bodies == [b"plain put"]
