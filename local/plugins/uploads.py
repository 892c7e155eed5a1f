"""Uploads through the stack's one port: the presigned POSTs the functions issue name
`<PUBLIC_URL>/local/s3/<bucket>`, and that route forwards the browser-based upload to
the local S3 (moto behind `local/s3_post_upload.py`, which checks it as S3 does).

So a phone or an emulator reaches the whole journey through one address, and moto's
own port stays on loopback. The forward changes nothing S3 decides: the form goes to
the same policy check as before, byte for byte, and S3's status, headers and XML body
come back as they are. Only the shape of request that check applies to is forwarded
(a multipart POST to a bucket, no key, no query), so the route cannot reach an
unchecked S3 operation; anything else gets the answer S3 gives an anonymous caller.

In AWS the URL is the bucket's regional endpoint: presigned POST signatures cover the
policy, not the URL, so only the address the functions' SDK puts in the ticket changes
(rewritten on the default session's `before-sign` event, the one botocore emits for a
presigned POST), never what is signed.
"""

from __future__ import annotations

import http.client
import re
import urllib.parse
import uuid
from contextlib import ExitStack

import boto3

from local.gateway import HttpResponse
from local.plugins import LocalRequest, Route, StackContext, StandIn
from local.plugins.aws import MotoPlugin
from local.s3_post_policy import ANONYMOUS, S3Error
from local.s3_post_upload import post_object_bucket

PREFIX = "/local/s3/"
# http.server writes these itself (Date, Server, Content-Length) or they belong to
# the hop between this server and moto.
_NOT_RELAYED = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
NOT_MULTIPART = S3Error(
    412,
    "PreconditionFailed",
    "At least one of the pre-conditions you specified did not hold",
    (("Condition", "Bucket POST must be of the enclosure-type multipart/form-data"),),
)
INVALID_BUCKET = S3Error(400, "InvalidBucketName", "The specified bucket is not valid.")
FORWARD_TIMEOUT_S = 30


def upload_url(signed_url: str, s3_endpoint: str, public_url: str) -> str:
    """The ticket's URL on the public address: `<s3 endpoint>/<bucket>` (path style, as
    the SDK writes it for an IP endpoint) becomes `<public url>/local/s3/<bucket>`."""
    signed, endpoint = urllib.parse.urlsplit(signed_url), urllib.parse.urlsplit(s3_endpoint)
    if signed.netloc != endpoint.netloc:
        return signed_url
    return public_url.rstrip("/") + PREFIX.rstrip("/") + signed.path


class UploadsPlugin(StandIn):
    name = "uploads"

    def __init__(self, moto: MotoPlugin):
        super().__init__()
        self._moto = moto

    def setup(self, context: StackContext, undo: ExitStack) -> None:
        self._public_url = context.public_url
        events = boto3._get_default_session().events
        events.register("before-sign.s3", self._rewrite, unique_id="local-uploads-public-url")
        undo.callback(events.unregister, "before-sign.s3", unique_id="local-uploads-public-url")

    def _rewrite(self, request, **_) -> None:
        if request.context.get("s3-presign-post-fields") is not None:
            request.url = upload_url(request.url, self._moto.endpoint_url, self._public_url)

    def routes(self) -> tuple[Route, ...]:
        return (Route("POST", PREFIX, self._forward, prefix=True),)

    def _forward(self, request: LocalRequest) -> HttpResponse:
        bucket = request.path[len(PREFIX) :]
        content_type = next((v for k, v in request.headers.items() if k.lower() == "content-type"), "")
        moto = urllib.parse.urlsplit(self._moto.endpoint_url)
        # What the policy check in front of moto will see; forwarded only when it applies.
        checked = post_object_bucket(
            {
                "REQUEST_METHOD": "POST",
                "CONTENT_TYPE": content_type,
                "QUERY_STRING": urllib.parse.urlencode(request.query, doseq=True),
                "PATH_INFO": "/" + bucket,
                "HTTP_HOST": moto.netloc,
            }
        )
        if checked is None:
            multipart = content_type.split(";")[0].strip().lower() == "multipart/form-data"
            return _s3_error(ANONYMOUS if multipart else NOT_MULTIPART)
        if not _BUCKET.match(bucket):
            return _s3_error(INVALID_BUCKET)
        connection = http.client.HTTPConnection(moto.hostname or "127.0.0.1", moto.port, timeout=FORWARD_TIMEOUT_S)
        try:
            connection.request("POST", "/" + bucket, body=request.body, headers={"Content-Type": content_type})
            answer = connection.getresponse()
            body = answer.read()
            headers = {k: v for k, v in answer.getheaders() if k.lower() not in _NOT_RELAYED}
        finally:
            connection.close()
        if "Location" in headers:  # S3 names the stored object: on the public address too
            headers["Location"] = upload_url(headers["Location"], self._moto.endpoint_url, self._public_url)
        return HttpResponse(answer.status, headers, body)


def _s3_error(error: S3Error) -> HttpResponse:
    return HttpResponse(error.status, {"Content-Type": "application/xml"}, error.xml(uuid.uuid4().hex[:16].upper()))
