"""The local S3's POST policy check, rule by rule, on forms signed by botocore (as the
upload function signs them) and on forms built by hand."""

import base64
import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.config import Config

from local.s3_post_policy import PostForm, check, policy_signature, signing_key

REGION, BUCKET, KEY = "eu-west-1", "serenya-dev-temp", "incoming/result_job"
CREDENTIALS = {"local": "local"}
KMS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/abc"
NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=timezone.utc)


def signed(conditions=None, fields=None, expires=300, session_token=None, secret="local"):
    """Fields as the upload function's S3 client issues them."""
    s3 = boto3.client("s3", region_name=REGION, aws_access_key_id="local", aws_secret_access_key=secret,
                      aws_session_token=session_token, config=Config(signature_version="s3v4"))
    fields = {"Content-Type": "application/pdf", "x-amz-server-side-encryption": "aws:kms",
              "x-amz-server-side-encryption-aws-kms-key-id": KMS_KEY} if fields is None else fields
    conditions = [{"Content-Type": "application/pdf"}, ["content-length-range", 1, 100],
                  {"x-amz-server-side-encryption": "aws:kms"},
                  {"x-amz-server-side-encryption-aws-kms-key-id": KMS_KEY}] if conditions is None else conditions
    return s3.generate_presigned_post(BUCKET, KEY, Fields=fields, Conditions=conditions, ExpiresIn=expires)["fields"]


def hand_signed(policy: dict, **fields):
    """A form signed by hand with the local secret (to test policies botocore would not write)."""
    amz_date = NOW.strftime("%Y%m%dT%H%M%SZ")
    encoded = base64.b64encode(json.dumps(policy).encode()).decode()
    return {"key": KEY, "x-amz-algorithm": "AWS4-HMAC-SHA256",
            "x-amz-credential": f"local/{amz_date[:8]}/{REGION}/s3/aws4_request", "x-amz-date": amz_date,
            "policy": encoded, "x-amz-signature": policy_signature(encoded, "local", amz_date[:8], REGION), **fields}


def hand_policy(*conditions, expiration="2026-11-27T12:05:00.000Z"):
    amz_date = NOW.strftime("%Y%m%dT%H%M%SZ")
    return {"expiration": expiration, "conditions": [
        {"bucket": BUCKET}, {"key": KEY}, {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
        {"x-amz-credential": f"local/{amz_date[:8]}/{REGION}/s3/aws4_request"}, {"x-amz-date": amz_date},
        *conditions]}


def verdict(fields: dict, size=10, now=None, bucket=BUCKET, files=1, region=REGION):
    error = check(PostForm(tuple(fields.items()), file_size=size, file_count=files), bucket=bucket, region=region,
                  credentials=CREDENTIALS, now=now or datetime.now(timezone.utc))
    return None if error is None else (error.status, error.code, error.message)


def test_the_form_as_issued_is_accepted():
    assert verdict(signed()) is None


def test_a_session_token_form_is_accepted_when_the_policy_covers_it():
    fields = signed(session_token="role-session-token")
    assert fields["x-amz-security-token"] == "role-session-token"
    assert verdict(fields) is None
    assert verdict({**fields, "x-amz-security-token": "another"})[:2] == (403, "AccessDenied")


def test_the_signing_key_is_sigv4s_hmac_chain():
    # AWS's published example (sig-v4-examples-using-sdks, "Deriving the signing key").
    key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


@pytest.mark.parametrize("change, expected", [
    ({"x-amz-signature": "0" * 64}, (403, "SignatureDoesNotMatch")),
    ({"policy": None}, (403, "SignatureDoesNotMatch")),  # another policy under the same signature
    ({"x-amz-credential": "someone/{date}/eu-west-1/s3/aws4_request"}, (403, "InvalidAccessKeyId")),
    ({"x-amz-credential": "local/{date}/us-east-1/s3/aws4_request"}, (400, "AuthorizationQueryParametersError")),
    ({"x-amz-credential": "local/{date}/eu-west-1/iam/aws4_request"}, (400, "AuthorizationQueryParametersError")),
    ({"x-amz-credential": "local/20200101/eu-west-1/s3/aws4_request"}, (400, "AuthorizationQueryParametersError")),
    ({"x-amz-algorithm": "AWS4-HMAC-SHA1"}, (400, "InvalidArgument")),
    ({"x-amz-date": "yesterday"}, (400, "InvalidArgument")),
])
def test_signature_and_credential_are_checked(change, expected):
    fields = signed()
    date = fields["x-amz-date"][:8]
    if change.get("policy", "") is None:
        other = json.loads(base64.b64decode(fields["policy"]))
        other["conditions"][1] = ["content-length-range", 1, 10 ** 9]
        change = {"policy": base64.b64encode(json.dumps(other).encode()).decode()}
    change = {k: v.format(date=date) for k, v in change.items()}
    assert verdict({**fields, **change})[:2] == expected


def test_a_form_signed_with_another_secret_does_not_match():
    assert verdict(signed(secret="not-the-local-secret"))[:2] == (403, "SignatureDoesNotMatch")


def test_the_policy_expires():
    fields = signed(expires=300)
    now = datetime.now(timezone.utc)
    assert verdict(fields, now=now + timedelta(seconds=290)) is None
    assert verdict(fields, now=now + timedelta(seconds=301)) == (
        403, "AccessDenied", "Invalid according to Policy: Policy expired.")


@pytest.mark.parametrize("name, value, failed", [
    ("Content-Type", "image/png", '["eq", "$Content-Type", "application/pdf"]'),
    ("key", "incoming/result_other", f'["eq", "$key", "{KEY}"]'),
    ("x-amz-server-side-encryption", "AES256", '["eq", "$x-amz-server-side-encryption", "aws:kms"]'),
    ("x-amz-server-side-encryption-aws-kms-key-id", "arn:aws:kms:eu-west-1:123456789012:key/other",
     f'["eq", "$x-amz-server-side-encryption-aws-kms-key-id", "{KMS_KEY}"]'),
])
def test_each_exact_condition_is_enforced(name, value, failed):
    assert verdict({**signed(), name: value}) == (
        403, "AccessDenied", f"Invalid according to Policy: Policy Condition failed: {failed}")


@pytest.mark.parametrize("name", ["Content-Type", "x-amz-server-side-encryption",
                                  "x-amz-server-side-encryption-aws-kms-key-id", "key"])
def test_a_field_the_policy_conditions_must_be_sent(name):
    fields = {k: v for k, v in signed().items() if k != name}
    code = "InvalidArgument" if name == "key" else "AccessDenied"  # key is a required field
    assert verdict(fields)[1] == code


def test_the_bucket_condition_is_the_requests_bucket():
    assert verdict(signed(), bucket="another-bucket") == (
        403, "AccessDenied", f'Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "{BUCKET}"]')


def test_field_names_match_conditions_case_insensitively():
    fields = signed()
    fields["content-type"] = fields.pop("Content-Type")
    assert verdict(fields) is None


def test_a_repeated_field_must_satisfy_the_condition_each_time():
    fields = list(signed().items()) + [("Content-Type", "text/html")]
    error = check(PostForm(tuple(fields), file_size=10), bucket=BUCKET, region=REGION, credentials=CREDENTIALS,
                  now=datetime.now(timezone.utc))
    assert (error.status, error.code) == (403, "AccessDenied")


@pytest.mark.parametrize("size, expected", [
    (0, (400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size")),
    (1, None), (100, None),
    (101, (400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")),
])
def test_content_length_range(size, expected):
    assert verdict(signed(), size=size) == expected


def test_entity_too_large_says_the_sizes_in_its_xml():
    error = check(PostForm(tuple(signed().items()), file_size=150), bucket=BUCKET, region=REGION,
                  credentials=CREDENTIALS, now=datetime.now(timezone.utc))
    xml = error.xml("REQ1").decode()
    assert "<Code>EntityTooLarge</Code>" in xml and "<ProposedSize>150</ProposedSize>" in xml
    assert "<MaxSizeAllowed>100</MaxSizeAllowed>" in xml and "<RequestId>REQ1</RequestId>" in xml


@pytest.mark.parametrize("name", ["x-amz-meta-note", "x-amz-storage-class", "acl", "success_action_status",
                                  "Cache-Control"])
def test_a_field_no_condition_covers_is_refused(name):
    assert verdict({**signed(), name: "x"}) == (
        403, "AccessDenied", f"Invalid according to Policy: Extra input fields: {name}")


@pytest.mark.parametrize("name", ["x-ignore-anything", "X-Ignore-Submit"])
def test_x_ignore_fields_need_no_condition(name):
    assert verdict({**signed(), name: "x"}) is None


def test_starts_with_conditions():
    policy = hand_policy(["starts-with", "$Content-Type", "image/"], ["starts-with", "$x-amz-meta-tag", ""],
                         ["content-length-range", 0, 100])
    assert verdict(hand_signed(policy, **{"Content-Type": "image/png", "x-amz-meta-tag": "any"}), now=NOW) is None
    assert verdict(hand_signed(policy, **{"Content-Type": "text/html", "x-amz-meta-tag": "any"}), now=NOW) == (
        403, "AccessDenied",
        'Invalid according to Policy: Policy Condition failed: ["starts-with", "$Content-Type", "image/"]')


def test_the_eq_list_form_is_an_exact_match():
    policy = hand_policy(["eq", "$Content-Type", "application/pdf"])
    assert verdict(hand_signed(policy, **{"Content-Type": "application/pdf"}), now=NOW) is None
    assert verdict(hand_signed(policy, **{"Content-Type": "application/pdfx"}), now=NOW)[:2] == (403, "AccessDenied")


@pytest.mark.parametrize("condition", [
    ["starts-with", "$x-amz-server-side-encryption", "aws:"], ["starts-with", "$bucket", "serenya"],
    ["ends-with", "$key", "x"], ["content-length-range", 10, 1], ["content-length-range", "1", 10],
    ["eq", "key", KEY], {"Content-Type": 5}, "Content-Type",
])
def test_conditions_s3_does_not_accept_are_an_invalid_policy(condition):
    assert verdict(hand_signed(hand_policy(condition)), now=NOW)[:2] == (400, "InvalidPolicyDocument")


@pytest.mark.parametrize("policy", [b"not json", b"[]", b'{"conditions": []}', b'{"expiration": "soon", '
                                                                                b'"conditions": []}'])
def test_a_policy_that_is_not_a_policy_document_is_refused(policy):
    fields = hand_signed({})
    encoded = base64.b64encode(policy).decode()
    fields.update(policy=encoded, **{"x-amz-signature": policy_signature(encoded, "local", NOW.strftime("%Y%m%d"),
                                                                         REGION)})
    assert verdict(fields, now=NOW)[:2] == (400, "InvalidPolicyDocument")


@pytest.mark.parametrize("missing", ["key", "policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date",
                                     "x-amz-signature"])
def test_every_sigv4_field_is_required(missing):
    fields = {k: v for k, v in signed().items() if k != missing}
    status, code, message = verdict(fields)
    assert (status, code) == (400, "InvalidArgument") and f"'{missing}'" in message


def test_sigv2_forms_are_refused():
    fields = {k: v for k, v in signed().items() if not k.startswith("x-amz-")}
    assert verdict({**fields, "AWSAccessKeyId": "local", "signature": "c2ln"})[:2] == (400, "InvalidRequest")


def test_an_unsigned_post_is_an_anonymous_write_to_a_private_bucket():
    assert verdict({"key": KEY, "Content-Type": "application/pdf"}) == (403, "AccessDenied", "Access Denied")


@pytest.mark.parametrize("files", [0, 2])
def test_exactly_one_file(files):
    assert verdict(signed(), files=files)[:2] == (400, "IncorrectNumberOfFilesInPostRequest")
