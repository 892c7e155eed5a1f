"""A WSGI middleware in front of moto's server app that checks browser-based uploads
(POST Object: a multipart/form-data POST to a bucket) as S3 does, with
`local.s3_post_policy.check`. A refused upload is answered with S3's status and XML
error and never reaches moto; an accepted one is passed on with the fields S3 reads
(those after `file` are dropped: S3 ignores them). Every other request goes to moto
untouched.

https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html
https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-UsingHTTPPOST.html
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from werkzeug.datastructures import Headers
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, MultipartEncoder, NeedData

from local.s3_post_policy import PostForm, S3Error, check

Clock = Callable[[], datetime]
WsgiApp = Callable[[dict, Callable], Iterable[bytes]]

MALFORMED = S3Error(
    400, "MalformedPOSTRequest", "The body of your POST request is not well-formed multipart/form-data."
)
# Virtual-hosted style: <bucket>.s3.<region>.amazonaws.com, <bucket>.s3.amazonaws.com, <bucket>.localhost.
_VIRTUAL_HOST = re.compile(r"^(?P<bucket>[a-z0-9][a-z0-9.-]*?)\.(?:s3[.-][a-z0-9.-]*amazonaws\.com|localhost)$")


@dataclass(frozen=True)
class _Part:
    name: str
    headers: Headers
    data: bytes
    filename: str | None = None


@dataclass(frozen=True)
class ParsedUpload:
    form: PostForm
    fields: tuple[_Part, ...]  # before the file, in order
    file: _Part | None


def post_object_bucket(environ: dict) -> str | None:
    """The bucket a POST Object request writes to, or None for any other request."""
    content_type, _ = parse_options_header(environ.get("CONTENT_TYPE", ""))
    if environ.get("REQUEST_METHOD") != "POST" or content_type != "multipart/form-data" or environ.get("QUERY_STRING"):
        return None
    path = environ.get("PATH_INFO", "")
    host = environ.get("HTTP_HOST", "").rsplit(":", 1)[0].lower()
    virtual = _VIRTUAL_HOST.match(host)
    if virtual:
        return virtual["bucket"] if path in ("", "/") else None
    segments = path.strip("/").split("/")
    return segments[0] if len(segments) == 1 and segments[0] else None


def parse_upload(body: bytes, boundary: str) -> ParsedUpload | None:
    """The form as S3 reads it, or None when the body is not well-formed multipart."""
    decoder = MultipartDecoder(boundary.encode())
    decoder.receive_data(body)
    decoder.receive_data(None)
    parts: list[_Part] = []
    current: tuple[str, Headers, str | None] | None = None
    chunks: list[bytes] = []
    try:
        while True:
            event = decoder.next_event()
            if isinstance(event, (Field, File)):
                current, chunks = (event.name, event.headers, getattr(event, "filename", None)), []
            elif isinstance(event, Data):
                chunks.append(event.data)
                if not event.more_data and current is not None:
                    parts.append(_Part(current[0], current[1], b"".join(chunks), current[2]))
                    current = None
            elif isinstance(event, Epilogue):
                break
            elif isinstance(event, NeedData):
                return None  # the input ended before the closing boundary
    except ValueError:
        return None
    files = [i for i, p in enumerate(parts) if p.name.lower() == "file"]
    before = parts[: files[0]] if files else parts
    try:
        fields = tuple((p.name, p.data.decode("utf-8")) for p in before)
    except UnicodeDecodeError:
        return None
    file = parts[files[0]] if files else None
    form = PostForm(fields, file_size=len(file.data) if file else 0, file_count=len(files))
    return ParsedUpload(form, tuple(before), file)


def encode_upload(upload: ParsedUpload, boundary: str) -> bytes:
    """The fields S3 reads, then the file: what moto is given."""
    encoder = MultipartEncoder(boundary.encode())
    out = bytearray()
    file = cast(_Part, upload.file)  # check() passed: exactly one file
    for part in (*upload.fields, file):
        # S3 reads the names `key` and `file` in any case (so does check()); moto only in
        # lower case, and a `FILE` part once failed there with a 500.
        name = part.name.lower() if part.name.lower() in ("key", "file") else part.name
        if part.filename is None and part is not file:
            out += encoder.send_event(Field(name=name, headers=_part_headers(part)))
        else:
            out += encoder.send_event(File(name=name, filename=part.filename or "file", headers=_part_headers(part)))
        out += encoder.send_event(Data(data=part.data, more_data=False))
    out += encoder.send_event(Epilogue(data=b""))
    return bytes(out)


def _part_headers(part: _Part) -> Headers:
    """The part's own headers but Content-Disposition, which the encoder writes."""
    return Headers([(k, v) for k, v in part.headers.items() if k.lower() != "content-disposition"])


class S3PostPolicy:
    """The middleware. `credentials` maps access key ids to secret keys; `region` is the
    buckets' region; `clock` is read for every upload (tests move it instead of waiting)."""

    def __init__(
        self, app: WsgiApp, region: str, credentials: Mapping[str, str], clock: Clock = lambda: datetime.now(UTC)
    ):
        self.app, self.region, self.credentials, self.clock = app, region, dict(credentials), clock
        self.refused: list[str] = []  # the codes of refused uploads, for tests

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        bucket = post_object_bucket(environ)
        if bucket is None:
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        _, options = parse_options_header(environ.get("CONTENT_TYPE", ""))
        boundary = options.get("boundary")
        upload = parse_upload(body, boundary) if boundary else None
        error = (
            MALFORMED
            if upload is None
            else check(upload.form, bucket=bucket, region=self.region, credentials=self.credentials, now=self.clock())
        )
        if error is not None:
            self.refused.append(error.code)
            payload = error.xml(uuid.uuid4().hex[:16].upper())
            start_response(
                f"{error.status} {_REASONS[error.status]}",
                [("Content-Type", "application/xml"), ("Content-Length", str(len(payload)))],
            )
            return [payload]
        # No error: the body had a boundary and parsed (else MALFORMED).
        forwarded = encode_upload(cast(ParsedUpload, upload), cast(str, boundary))
        environ = {**environ, "wsgi.input": io.BytesIO(forwarded), "CONTENT_LENGTH": str(len(forwarded))}
        return self.app(environ, start_response)


_REASONS = {400: "Bad Request", 403: "Forbidden"}
