"""S3's checks of a browser-based upload (POST Object with a SigV4-signed policy), as
pure functions of the parsed form: the local S3 (moto) accepts any form, AWS does not.

`check(form, bucket=..., region=..., credentials=..., now=...)` answers None when S3
would store the object, or the `S3Error` S3 answers. The rules, in the order applied:

1. exactly one `file` field; SigV2 fields (`AWSAccessKeyId`, `signature`) refused as
   S3 refuses them for new buckets and SSE-KMS; no signature at all is an anonymous
   write to a private bucket (403 AccessDenied);
2. the SigV4 fields present (`key`, `policy`, `x-amz-algorithm`, `x-amz-credential`,
   `x-amz-date`, `x-amz-signature`), the credential scope well formed, for this region
   and service and the day of `x-amz-date`, the access key known;
3. `x-amz-signature` = hex(HMAC-SHA256(signing key, base64 policy)), the signing key
   derived from the secret key, the scope's date, the region, 's3', 'aws4_request';
4. the policy decodes to {"expiration", "conditions"} and has not expired;
5. every condition holds (exact match, `starts-with`, on the elements that support
   each), `bucket` against the request's bucket;
6. every form field other than `file`, `policy`, `x-amz-signature` and `x-ignore-*`
   is covered by a condition;
7. the file's size is inside every `content-length-range`.

AWS documentation followed:
- https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html
  (expiration, condition matching, the elements and the match types each supports,
  the fields exempt from conditions)
- https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-UsingHTTPPOST.html and
  https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-post-example.html
  (the form fields and the signature over the base64 policy)
- https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html
  (credential scope and signing key)
- https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html (POST Object:
  `file` is the last field, fields after it are ignored; 204 by default)
- https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html (codes, statuses)
- https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingAWSSDK.html#UsingAWSSDK-sig2-deprecation
  (SigV2 refused for buckets created after June 24, 2020)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast
from xml.sax.saxutils import escape

ALGORITHM = "AWS4-HMAC-SHA256"
# Fields a policy need not cover (sigv4-HTTPPOSTConstructPolicy, "Conditions").
EXEMPT_FIELDS = ("file", "policy", "x-amz-signature")
EXEMPT_PREFIX = "x-ignore-"
REQUIRED_FIELDS = ("key", "policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature")
SIGV2_FIELDS = ("awsaccesskeyid", "signature")
# Elements on which a policy may use `starts-with` (the rest take exact matches only).
STARTS_WITH_ELEMENTS = (
    "acl",
    "cache-control",
    "content-type",
    "content-disposition",
    "content-encoding",
    "expires",
    "key",
    "success_action_redirect",
    "redirect",
)
STARTS_WITH_PREFIXES = ("x-amz-meta-",)
_AMZ_DATE = re.compile(r"^(\d{8})T\d{6}Z$")


@dataclass(frozen=True)
class PostForm:
    """A POST Object form as S3 reads it: the fields before `file`, in order, and the
    file's size (`file_count` file fields were sent; only one is allowed)."""

    fields: tuple[tuple[str, str], ...]
    file_size: int = 0
    file_count: int = 1

    def values(self, name: str) -> list[str]:
        """Every value of a field; form field names are matched case-insensitively."""
        return [v for k, v in self.fields if k.lower() == name.lower()]

    def first(self, name: str) -> str | None:
        found = self.values(name)
        return found[0] if found else None


@dataclass(frozen=True)
class S3Error:
    """An S3 error answer: the status and the XML body S3 sends."""

    status: int
    code: str
    message: str
    details: tuple[tuple[str, str], ...] = field(default=())

    def xml(self, request_id: str) -> bytes:
        extra = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in self.details)
        return (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{self.code}</Code>'
            f"<Message>{escape(self.message)}</Message>{extra}"
            f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
        ).encode()


def _denied(reason: str) -> S3Error:
    return S3Error(403, "AccessDenied", f"Invalid according to Policy: {reason}")


def _missing(name: str) -> S3Error:
    return S3Error(
        400,
        "InvalidArgument",
        f"Bucket POST must contain a field named '{name}'.  If it is specified, please check the order of the fields.",
        (("ArgumentName", name), ("ArgumentValue", "")),
    )


def _invalid_policy(reason: str) -> S3Error:
    return S3Error(400, "InvalidPolicyDocument", f"Invalid Policy: {reason}")


SIGNATURE_MISMATCH = S3Error(
    403,
    "SignatureDoesNotMatch",
    "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
)
ANONYMOUS = S3Error(403, "AccessDenied", "Access Denied")
SIGV2 = S3Error(
    400,
    "InvalidRequest",
    "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
)


def signing_key(secret_key: str, date: str, region: str, service: str = "s3") -> bytes:
    """SigV4's signing key: HMAC chain over date, region, service and 'aws4_request'."""
    key = ("AWS4" + secret_key).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def policy_signature(policy_b64: str, secret_key: str, date: str, region: str) -> str:
    """The `x-amz-signature` of a POST: hex HMAC-SHA256 of the base64 policy string."""
    return hmac.new(signing_key(secret_key, date, region), policy_b64.encode(), hashlib.sha256).hexdigest()


def check(form: PostForm, *, bucket: str, region: str, credentials: Mapping[str, str], now: datetime) -> S3Error | None:
    """None when S3 would accept the upload; otherwise the error S3 answers."""
    return _check_shape(form) or _check_signature(form, region, credentials) or _check_policy(form, bucket, now)


def _check_shape(form: PostForm) -> S3Error | None:
    if form.file_count != 1:
        return S3Error(
            400,
            "IncorrectNumberOfFilesInPostRequest",
            "POST requires exactly one file upload per request.",
            (("ArgumentName", "file"), ("ArgumentValue", str(form.file_count))),
        )
    names = {k.lower() for k, _ in form.fields}
    if names & set(SIGV2_FIELDS) and "x-amz-algorithm" not in names:
        return SIGV2
    if not names & {"policy", "x-amz-signature", "x-amz-credential"}:
        return ANONYMOUS  # an unsigned POST is anonymous; the bucket is private
    for name in REQUIRED_FIELDS:
        if form.first(name) is None:
            return _missing(name)
    return None


def _check_signature(form: PostForm, region: str, credentials: Mapping[str, str]) -> S3Error | None:
    algorithm, credential, amz_date = (
        form.first("x-amz-algorithm"),
        form.first("x-amz-credential"),
        form.first("x-amz-date"),
    )
    if algorithm != ALGORITHM:
        return S3Error(
            400,
            "InvalidArgument",
            f"The algorithm must be {ALGORITHM}",
            (("ArgumentName", "x-amz-algorithm"), ("ArgumentValue", algorithm or "")),
        )
    date_match = _AMZ_DATE.match(amz_date or "")
    if not date_match:
        return S3Error(
            400,
            "InvalidArgument",
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
            (("ArgumentName", "x-amz-date"), ("ArgumentValue", amz_date or "")),
        )
    scope = (credential or "").split("/")
    if len(scope) != 5 or scope[3] != "s3" or scope[4] != "aws4_request":
        return _scope_error(
            'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
        )
    access_key, date, scope_region = scope[0], scope[1], scope[2]
    if scope_region != region:
        return _scope_error(f"the region '{scope_region}' is wrong; expecting '{region}'")
    if date != date_match[1]:
        return _scope_error(
            f'Invalid credential date "{date}". This date is not the same as X-Amz-Date: "{date_match[1]}".'
        )
    secret = credentials.get(access_key)
    if secret is None:
        return S3Error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
    policy = cast(str, form.first("policy"))  # a required field: _check_shape saw it
    expected = policy_signature(policy, secret, date, region)
    if not hmac.compare_digest(expected, form.first("x-amz-signature") or ""):
        return SIGNATURE_MISMATCH
    return None


def _scope_error(reason: str) -> S3Error:
    return S3Error(400, "AuthorizationQueryParametersError", f"Error parsing the X-Amz-Credential parameter; {reason}")


def _check_policy(form: PostForm, bucket: str, now: datetime) -> S3Error | None:
    policy, error = _decode(cast(str, form.first("policy")))  # a required field: _check_shape saw it
    if policy is None:  # then error is why
        return error
    if now >= policy.expiration:
        return _denied("Policy expired.")
    covered: set[str] = set()
    ranges: list[tuple[int, int]] = []
    for condition in policy.conditions:
        parsed, error = _parse_condition(condition)
        if error:
            return error
        if parsed[0] == "content-length-range":
            ranges.append((parsed[1], parsed[2]))
            continue
        op, name, expected, spelt = parsed
        covered.add(name)
        actual = [bucket] if name == "bucket" else form.values(name)
        holds = all(v == expected for v in actual) if op == "eq" else all(v.startswith(expected) for v in actual)
        if not actual or not holds:
            return _denied(f"Policy Condition failed: {json.dumps([op, '$' + spelt, expected])}")
    extra = [
        k
        for k, _ in form.fields
        if k.lower() not in covered and k.lower() not in EXEMPT_FIELDS and not k.lower().startswith(EXEMPT_PREFIX)
    ]
    if extra:
        return _denied(f"Extra input fields: {', '.join(dict.fromkeys(extra))}")
    for low, high in ranges:
        if form.file_size > high:
            return S3Error(
                400,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size",
                (("ProposedSize", str(form.file_size)), ("MaxSizeAllowed", str(high))),
            )
        if form.file_size < low:
            return S3Error(
                400,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed size",
                (("ProposedSize", str(form.file_size)), ("MinSizeAllowed", str(low))),
            )
    return None


@dataclass(frozen=True)
class _Policy:
    expiration: datetime
    conditions: list


def _decode(policy_b64: str) -> tuple[_Policy | None, S3Error | None]:
    try:
        document = json.loads(base64.b64decode(policy_b64, validate=True))
    except (binascii.Error, ValueError):
        return None, _invalid_policy("Invalid JSON.")
    if not isinstance(document, dict):
        return None, _invalid_policy("Invalid JSON.")
    if "expiration" not in document:
        return None, _invalid_policy("Policy missing expiration.")
    if not isinstance(document.get("conditions"), list):
        return None, _invalid_policy("Policy missing conditions.")
    expiration = _parse_time(document["expiration"])
    if expiration is None:
        return None, _invalid_policy(f"Invalid 'expiration' value: '{document['expiration']}'")
    return _Policy(expiration, document["conditions"]), None


def _parse_time(value: object) -> datetime | None:
    """ISO 8601 in UTC, with or without milliseconds (e.g. 2013-08-01T12:00:00.000Z)."""
    if not isinstance(value, str) or not value.endswith("Z"):
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def _parse_condition(condition: object) -> tuple[tuple, S3Error | None]:
    """("eq" | "starts-with", lower-case element, value, element as spelt) or
    ("content-length-range", min, max)."""
    if isinstance(condition, dict) and len(condition) == 1:
        ((name, value),) = condition.items()
        return _element(["eq", f"${name}", value], condition)
    if isinstance(condition, list) and condition and isinstance(condition[0], str):
        op = condition[0].lower()
        if op == "content-length-range":
            if (
                len(condition) == 3
                and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in condition[1:])
                and condition[1] <= condition[2]
            ):
                return (op, condition[1], condition[2]), None
            return (), _invalid_policy(f"Invalid content-length-range Condition: {json.dumps(condition)}")
        if op in ("eq", "starts-with") and len(condition) == 3:
            return _element([op, *condition[1:]], condition)
    return (), _invalid_policy(f"Invalid Condition: {json.dumps(condition)}")


def _element(condition: list, original: object) -> tuple[tuple, S3Error | None]:
    op, name, value = condition
    if not isinstance(name, str) or not isinstance(value, str) or not name.startswith("$") or len(name) < 2:
        return (), _invalid_policy(f"Invalid Simple-Condition: {json.dumps(original)}")
    element = name[1:].lower()
    if op == "starts-with" and not (element in STARTS_WITH_ELEMENTS or element.startswith(STARTS_WITH_PREFIXES)):
        return (), _invalid_policy(
            f"Invalid Condition: 'starts-with' is not supported on {name[1:]}: {json.dumps(original)}"
        )
    return (op, element, value, name[1:]), None
