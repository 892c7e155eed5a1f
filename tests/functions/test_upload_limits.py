"""The upload route's limits as behaviour: the size boundary, the refused content types
and the lifetime of the signed policy (mutants of functions/upload/handler.py that the
policy's conditions test does not see)."""

import base64
import json
from datetime import datetime, timezone

import pytest

from functions.common import jobs
from functions.common.requests import MAX_UPLOAD_BYTES, UPLOAD_TYPES
from tests.functions.test_upload import role_session, upload  # noqa: F401 (fixtures)


def _policy(body) -> dict:
    return json.loads(base64.b64decode(body["upload"]["fields"]["policy"]))


def test_a_file_of_exactly_the_limit_is_accepted_and_one_byte_more_is_not(upload):
    # A photo (scaled down for the model); PDFs stop at the model's 4.5 MB (test_quotas.py).
    status, body = upload({"content_type": "image/jpeg", "file_size": MAX_UPLOAD_BYTES})
    assert status == 201
    assert ["content-length-range", 1, MAX_UPLOAD_BYTES] in _policy(body)["conditions"]

    status, body = upload({"content_type": "image/jpeg", "file_size": MAX_UPLOAD_BYTES + 1})
    assert (status, body["error"]["code"]) == (413, "file_too_large")


@pytest.mark.parametrize("content_type", ["image/gif", "text/plain", "application/pdfx", "image/"])
def test_other_content_types_are_refused_before_anything_is_signed(upload, content_type):
    status, body = upload({"content_type": content_type, "file_size": 10})
    assert (status, body["error"]["code"]) == (400, "unsupported_media_type")
    assert "upload" not in body


@pytest.mark.parametrize("content_type", UPLOAD_TYPES)
def test_every_supported_type_is_signed_as_itself(upload, content_type):
    status, body = upload({"content_type": content_type.upper() + " ; x=y", "file_size": 10})
    assert status == 201
    assert {"Content-Type": content_type} in _policy(body)["conditions"]


def test_the_policy_expires_with_the_upload_url(upload):
    before = datetime.now(timezone.utc)
    status, body = upload({"content_type": "image/png", "file_size": 10})
    after = datetime.now(timezone.utc)
    expiration = datetime.strptime(_policy(body)["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    # The policy's expiry is written to the second: within a second of now + the URL lifetime.
    assert before.timestamp() + jobs.UPLOAD_URL_SECONDS - 1 <= expiration.timestamp()
    assert expiration.timestamp() <= after.timestamp() + jobs.UPLOAD_URL_SECONDS + 1
    assert body["expires_in"] == jobs.UPLOAD_URL_SECONDS
