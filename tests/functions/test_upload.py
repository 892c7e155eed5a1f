"""The upload function's presigned POST: SigV4 fields, the regional virtual-hosted URL,
and a policy carrying every condition S3 must enforce (and a valid signature over it)."""

import base64
import json
import os
import uuid

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from functions.common import aws, jobs
from local.s3_post_policy import policy_signature
from tests.conftest import FakeContext, api_event

USER = str(uuid.uuid4())
BUCKET = "serenya-test-temp"


@pytest.fixture
def role_session(monkeypatch):
    """Lambda's role credentials carry a session token, in the environment from the start."""
    monkeypatch.setenv("AWS_SESSION_TOKEN", "role-session-token")


@pytest.fixture
def upload(role_session, aws_env):
    """Calls the route as the gateway would."""
    import boto3

    from functions.upload.handler import handler

    # The caller's account exists: every authorized route checks (functions/common/accounts.py).
    boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test").put_item(
        Item={"PK": f"USER#{USER}", "SK": "PROFILE", "user_id": USER})

    def call(body):
        event = api_event("POST", "/api/v1/process/upload", body)
        event["requestContext"]["authorizer"] = {"user_id": USER}
        reply = handler(event, FakeContext())
        return reply["statusCode"], json.loads(reply["body"])

    return call


def test_the_fields_are_sigv4_with_the_session_token(upload):
    status, body = upload({"content_type": "application/pdf", "file_size": 1234})
    fields = body["upload"]["fields"]
    assert status == 201
    assert not {"AWSAccessKeyId", "signature"} & set(fields)
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    access_key, date, region, service, terminal = fields["x-amz-credential"].split("/")
    assert (access_key, region, service, terminal) == (os.environ["AWS_ACCESS_KEY_ID"], "eu-west-1", "s3",
                                                       "aws4_request")
    assert fields["x-amz-date"].startswith(date) and fields["x-amz-security-token"] == "role-session-token"
    # SigV4 over the base64 policy with the function's credentials (S3 computes the same).
    assert fields["x-amz-signature"] == policy_signature(fields["policy"], os.environ["AWS_SECRET_ACCESS_KEY"], date,
                                                         "eu-west-1")


def test_the_url_is_the_regional_virtual_hosted_endpoint(upload):
    assert upload({"content_type": "image/png", "file_size": 10})[1]["upload"]["url"] == \
        f"https://{BUCKET}.s3.eu-west-1.amazonaws.com/"


def test_the_region_is_the_functions_own(upload, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    aws.client.cache_clear()
    aws.table.cache_clear()
    import boto3  # the account check reads the table in the function's region too
    boto3.client("dynamodb", region_name="eu-central-1").create_table(
        TableName="serenya-test", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK")])
    boto3.resource("dynamodb", region_name="eu-central-1").Table("serenya-test").put_item(
        Item={"PK": f"USER#{USER}", "SK": "PROFILE"})
    body = upload({"content_type": "image/png", "file_size": 10})[1]
    assert body["upload"]["url"] == f"https://{BUCKET}.s3.eu-central-1.amazonaws.com/"
    assert "/eu-central-1/s3/" in body["upload"]["fields"]["x-amz-credential"]


def test_the_policy_carries_every_condition(upload, aws_env):
    status, body = upload({"content_type": "application/pdf", "file_size": 1234})
    fields = body["upload"]["fields"]
    policy = json.loads(base64.b64decode(fields["policy"]))
    key = f"incoming/{body['job_id']}"
    assert policy["conditions"] == [
        {"Content-Type": "application/pdf"},
        ["content-length-range", 1, 1234],
        {"x-amz-server-side-encryption": "aws:kms"},
        {"x-amz-server-side-encryption-aws-kms-key-id": aws_env["data_key"]},
        {"bucket": BUCKET},
        {"key": key},
        {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
        {"x-amz-credential": fields["x-amz-credential"]},
        {"x-amz-date": fields["x-amz-date"]},
        {"x-amz-security-token": "role-session-token"},
    ]
    assert fields["key"] == key and fields["Content-Type"] == "application/pdf"
    assert fields["x-amz-server-side-encryption"] == "aws:kms"
    assert fields["x-amz-server-side-encryption-aws-kms-key-id"] == aws_env["data_key"]
    assert policy["expiration"].endswith("Z") and body["expires_in"] == jobs.UPLOAD_URL_SECONDS


def test_the_content_type_is_normalised_before_it_is_signed(upload):
    fields = upload({"content_type": "Application/PDF; charset=binary", "file_size": 5})[1]["upload"]["fields"]
    assert fields["Content-Type"] == "application/pdf"
    assert {"Content-Type": "application/pdf"} in json.loads(base64.b64decode(fields["policy"]))["conditions"]


def test_with_an_endpoint_override_the_url_is_that_endpoint(upload, monkeypatch):
    # The local stack sets AWS_ENDPOINT_URL; an IP endpoint cannot carry the bucket in its host.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    aws.client.cache_clear()
    aws.table.cache_clear()
    # Nothing listens there: the plan's read and the quota (tested on their own) answer as the table would.
    from functions.common import quotas, users
    monkeypatch.setattr(users, "plan_identity_and_analytics_id",
                        lambda user_id: (dict(users.FREE_PLAN), "EXTERNAL#google#1", "a1") if user_id == USER else None)
    monkeypatch.setattr(quotas, "consume", lambda *args, **kwargs: None)
    from functions.common import usage
    monkeypatch.setattr(usage, "write", lambda item: None)  # the ticket's usage record (tested on its own)
    fields = upload({"content_type": "image/jpeg", "file_size": 10})[1]["upload"]
    assert fields["url"] == f"http://127.0.0.1:4566/{BUCKET}"
    assert fields["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"


def test_an_issued_ticket_is_a_usage_record_and_a_refused_one_is_not(upload, aws_env):
    """The upload funnel's first step (issue 28): the ticket's kind of file and time, under
    USAGE# with the usage record's attributes only (the role may write no others)."""
    from functions.common import usage

    table = boto3.resource("dynamodb", region_name="eu-west-1").Table("serenya-test")
    status, body = upload({"content_type": "image/png", "file_size": 10})
    assert status == 201
    items = table.query(KeyConditionExpression=Key("PK").eq(f"USAGE#{USER}"))["Items"]
    assert [(i["SK"], i["job_kind"], i["input_type"]) for i in items] == [
        (f"TICKET#{body['job_id']}", "lab_report", "screenshot")]
    assert set(items[0]) <= set(usage.ATTRIBUTES) and items[0]["issued_at"].endswith("Z")
    assert upload({"content_type": "text/plain", "file_size": 10})[0] == 400
    assert len(table.query(KeyConditionExpression=Key("PK").eq(f"USAGE#{USER}"))["Items"]) == 1


def test_the_ticket_says_the_file_is_the_last_field_and_its_name(upload):
    """S3 ignores fields after the file: the ticket tells the app, with the field's name."""
    ticket = upload({"content_type": "application/pdf", "file_size": 1234})[1]["upload"]
    assert ticket["file_field"] == "file" and ticket["file_field"] not in ticket["fields"]
    assert "last field" in ticket["note"] and "multipart/form-data" in ticket["note"]
