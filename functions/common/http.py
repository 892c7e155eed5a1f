"""HTTP errors in the contract's format, and the REST resolver every API function uses.

Errors look like {"error": {"code", "message", "request_id"}} (API.md). A handler
raises `ApiError`; anything unexpected becomes a 500 `internal_error` whose details go
to the log (without the event) and never to the caller.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import partial
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.shared.json_encoder import Encoder

from functions.common import accounts, safejson
from functions.common.limits import MAX_BODY_BYTES
from functions.common.observability import count, logger
from functions.common.settings import settings

JSON = "application/json"
# Powertools' serializer, refusing NaN and infinities (RFC 8259, section 6: not JSON): a
# bug that produces one is a 500, never a body no JSON parser should accept.
dumps = partial(json.dumps, separators=(",", ":"), cls=Encoder, allow_nan=False)


class ApiError(Exception):
    """A request that cannot be served; becomes a 4xx (or 5xx) with a contract error code."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status = int(status)
        self.code = code
        self.message = message
        self.retry_after = retry_after  # seconds: a Retry-After header and "retry_after" in the body


def error_body(code: str, message: str, request_id: str, retry_after: int | None = None) -> str:
    error: dict[str, Any] = {"code": code, "message": message, "request_id": request_id}
    if retry_after is not None:
        error["retry_after"] = retry_after
    return dumps({"error": error})


def error_response(status: int, code: str, message: str, request_id: str, retry_after: int | None = None) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return Response(
        status_code=status, content_type=JSON, headers=headers, body=error_body(code, message, request_id, retry_after)
    )


def quota_exceeded(refusal) -> ApiError:
    """429 `quota_exceeded` for a refusal of common/quotas.py, with when to try again."""
    return ApiError(HTTPStatus.TOO_MANY_REQUESTS, "quota_exceeded", refusal.describe(), retry_after=refusal.retry_after)


# How long a client waits before asking again while new jobs are paused: on-call turns
# the switch off with a deployment, a few minutes at least.
JOBS_PAUSED_RETRY_AFTER_S = 600


def refuse_if_jobs_paused() -> None:
    """503 `jobs_paused` while on-call has paused new model work (serenya:newJobsPaused,
    e.g. during a Bedrock outage): refused before anything is read, counted or written,
    instead of accepting jobs that would only burn retries. Jobs already started finish."""
    if settings().jobs_paused:
        raise ApiError(
            HTTPStatus.SERVICE_UNAVAILABLE,
            "jobs_paused",
            "New analyses are paused for a while; nothing was started or counted. Try again later.",
            retry_after=JOBS_PAUSED_RETRY_AFTER_S,
        )


def _validation_message(errors: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for e in errors[:5]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return "; ".join(parts) or "request does not match the schema"


def header(app: APIGatewayRestResolver, name: str) -> str:
    """A request header, whatever the case of its name."""
    lowered = name.lower()
    return next((v for k, v in (app.current_event.headers or {}).items() if k.lower() == lowered), "") or ""


def require_json_media_type(app: APIGatewayRestResolver) -> None:
    """415 `unsupported_media_type` unless Content-Type is application/json, with at
    most a UTF-8 charset parameter (API.md, Conventions)."""
    media_type, *params = [p.strip().lower() for p in header(app, "Content-Type").split(";")]
    charset_ok = all(p.replace(" ", "") in ("charset=utf-8", 'charset="utf-8"') for p in params if p)
    if media_type != JSON or not charset_ok:
        raise ApiError(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as Content-Type: application/json",
        )


def parse_json_object(app: APIGatewayRestResolver, max_bytes: int = MAX_BODY_BYTES) -> dict:
    """The request body as a dict: 415 `unsupported_media_type` when it is not declared
    JSON; 400 `invalid_json` when it is not a JSON object or cannot be parsed safely
    (nesting deeper than 64, numbers over 100 digits: common/safejson.py)."""
    require_json_media_type(app)
    body = app.current_event.body or ""
    if len(body) > max_bytes or len(body.encode()) > max_bytes:  # characters first: no copy of a huge body
        raise ApiError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large", f"the body may be at most {max_bytes // 1024} KiB"
        )
    try:
        data = safejson.loads(body)
    except (ValueError, TypeError):  # JSONDecodeError and UnsafeJson are ValueErrors
        raise ApiError(
            HTTPStatus.BAD_REQUEST,
            "invalid_json",
            "the body must be a JSON object (nesting at most 64 deep, numbers at most 100 digits)",
        ) from None
    if not isinstance(data, dict):
        raise ApiError(HTTPStatus.BAD_REQUEST, "invalid_json", "the body must be a JSON object")
    return data


def parse_body(
    app: APIGatewayRestResolver, model, read_only: frozenset[str] = frozenset(), max_bytes: int = MAX_BODY_BYTES
):
    """The request body as `model` (pydantic): 400 `invalid_json` when it is not a JSON object,
    400 `read_only_field` when it tries to set one of `read_only`, 422 when the schema fails."""
    from pydantic import ValidationError  # only functions that take a body pay for pydantic

    data = parse_json_object(app, max_bytes)
    forbidden = sorted(read_only & data.keys())
    if forbidden:
        raise ApiError(HTTPStatus.BAD_REQUEST, "read_only_field", f"read-only: {', '.join(forbidden)}")
    try:
        return model.model_validate_json(app.current_event.body)  # JSON mode: dates from ISO strings
    except ValidationError as e:
        raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "validation_error", _validation_message(e.errors())) from None


def account_gone() -> ApiError:
    return ApiError(HTTPStatus.UNAUTHORIZED, "unauthorized", "this account no longer exists")


def caller_id(app: APIGatewayRestResolver, check_account: bool = True) -> str:
    """The user id the authorizer put in the request context, once the account is known
    to still exist (one consistent read, common/accounts.py): API Gateway may answer from
    the authorizer's cache for 5 minutes after the account was deleted. A route that reads
    the profile itself passes check_account=False and answers `account_gone()` when the
    profile is missing."""
    authorizer = (app.current_event.raw_event.get("requestContext") or {}).get("authorizer") or {}
    user_id = authorizer.get("user_id")
    if not user_id:
        raise ApiError(HTTPStatus.UNAUTHORIZED, "unauthorized", "no authenticated user")
    if check_account and not accounts.exists(user_id):
        raise account_gone()
    return user_id


class _Resolver(APIGatewayRestResolver):
    """Powertools' REST resolver, serialising answers where errors can still be handled."""

    def _to_response(self, result):
        # Serialised here, inside the route's call, so that a value JSON cannot carry
        # (NaN) reaches the exception handlers and becomes a 500 in the contract's format;
        # Powertools would serialise it after them, where the error escapes as a 502.
        response = super()._to_response(result)
        if response.is_json() and not isinstance(response.body, (str, bytes)):
            response.body = self._serializer(response.body)  # type: ignore[arg-type]  # dumps takes any value
        return response


def make_resolver(cors_origins: tuple[str, ...] | None = None) -> APIGatewayRestResolver:
    """An APIGatewayRestResolver with validation, CORS for the stack's origins, and the
    contract's error format for every failure."""
    origins = settings().allowed_origins if cors_origins is None else cors_origins
    # The app sends Authorization and Content-Type: Powertools always allows both (with
    # X-Amz-Date, X-Api-Key, X-Amz-Security-Token, its required CORS headers).
    cors = CORSConfig(allow_origin=origins[0], extra_origins=list(origins[1:]), max_age=600) if origins else None
    # Bodies are validated by parse_body (pydantic, strict); the resolver's own OpenAPI
    # validation would only add its import cost to every cold start.
    app = _Resolver(cors=cors, serializer=dumps)

    def request_id() -> str:
        return app.current_event.request_context.request_id or ""

    @app.exception_handler(ApiError)
    def _api_error(e: ApiError) -> Response:
        if e.status >= 500:
            logger.error("request failed", extra={"error_code": e.code})
        return error_response(e.status, e.code, e.message, request_id(), e.retry_after)

    @app.not_found
    def _not_found(_: NotFoundError) -> Response:
        return error_response(HTTPStatus.NOT_FOUND, "not_found", "no such route", request_id())

    @app.exception_handler(Exception)
    def _unexpected(e: Exception) -> Response:
        # The traceback goes to the log; the event (tokens, personal data) does not.
        logger.exception("unhandled error", extra={"error_type": type(e).__name__})
        count("UnhandledErrors")
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "something went wrong on our side", request_id()
        )

    return app
