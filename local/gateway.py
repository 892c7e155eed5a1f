"""An API Gateway REST emulator that routes by the catalog.

It does what the deployed API does before and after a function runs: matches the
route, calls the real token authorizer for authorized routes (and caches its answer
per token like API Gateway), evaluates the returned policy against the method ARN,
builds the REST proxy event, and turns the function's reply into an HTTP response.
Failures of its own answer in the contract's error format.

Given the document the program gives API Gateway (components/openapi.py
for_api_gateway), it also validates requests as the deployed API does: required query
and header parameters present and not blank, and a body whose Content-Type has a model
valid against that model's (reduced) JSON schema; otherwise the document's
BAD_REQUEST_PARAMETERS or BAD_REQUEST_BODY gateway response, and no function runs.
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-method-request-validation.html

A token authorizer that raises `Unauthorized` makes the answer 401; one that fails any
other way (an exception, a malformed reply) makes it 500, the gateway response
AUTHORIZER_CONFIGURATION_ERROR, which falls back to DEFAULT_5XX when the document does
not define it, and the failure is not cached.
https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html
https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html

Every request it answers is reported to `metrics.api_request(resource, method, status,
latency_ms, integration_latency_ms)` (the AWS/ApiGateway metrics, local/telemetry.py).
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, cast

import jsonschema

from functions.catalog import AUTHORIZER, AUTHORIZER_CACHE_SECONDS, Function, Route
from functions.common import safejson
from local.runtime import LocalLambda

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's own limit
# REST APIs: "Total combined size of request line and header values: 10240 bytes";
# API Gateway refuses more with REQUEST_TOO_LARGE (413, the gateway response).
# https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html
MAX_HEADER_BYTES = 10240
STAGE = "local"


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def json_error(
    status: int, code: str, message: str, request_id: str, headers: dict[str, str] | None = None
) -> HttpResponse:
    body = json.dumps({"error": {"code": code, "message": message, "request_id": request_id}}).encode()
    return HttpResponse(status, {"Content-Type": "application/json", **(headers or {})}, body)


class ApiMetrics(Protocol):
    def api_request(
        self, resource: str | None, method: str, status: int, latency_ms: float, integration_ms: float | None
    ) -> None: ...


class AuthorizerFailed(Exception):
    """The authorizer failed otherwise than by refusing the token."""


@dataclass(frozen=True)
class _CompiledRoute:
    fn: Function
    route: Route
    pattern: re.Pattern


class Router:
    """Matches method and path against every route of the catalog."""

    def __init__(self, catalog: tuple[Function, ...]):
        self._routes = [_CompiledRoute(fn, r, _compile(r.path)) for fn in catalog for r in fn.routes]

    def match(self, method: str, path: str) -> tuple[_CompiledRoute | None, dict[str, str], list[str]]:
        """(route, path parameters, methods allowed on the path)."""
        allowed: list[str] = []
        for compiled in self._routes:
            m = compiled.pattern.fullmatch(path)
            if not m:
                continue
            allowed.append(compiled.route.method)
            if compiled.route.method == method:
                return compiled, m.groupdict(), allowed
        return None, {}, allowed


def _compile(template: str) -> re.Pattern:
    pattern = re.sub(r"\\\{(\w+)\\\+\\\}", r"(?P<\1>.+)", re.escape(template))
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", pattern)
    return re.compile(pattern)


def policy_allows(policy: Mapping[str, Any], method_arn: str) -> bool:
    """IAM evaluation as API Gateway does it for authorizer policies: an explicit Deny
    wins, otherwise some Allow must match the method ARN (wildcards `*` and `?`)."""
    allowed = False
    for statement in policy.get("Statement", []):
        if statement.get("Action") not in ("execute-api:Invoke", ["execute-api:Invoke"]):
            continue
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if any(fnmatch.fnmatchcase(method_arn, r) for r in resources):
            if statement.get("Effect") == "Deny":
                return False
            allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


class Gateway:
    def __init__(
        self,
        catalog: tuple[Function, ...],
        functions: LocalLambda,
        region: str,
        account_id: str,
        api_id: str = "local",
        cache_seconds: int = AUTHORIZER_CACHE_SECONDS,
        document: Mapping[str, Any] | None = None,
        metrics: ApiMetrics | None = None,
    ):
        """`document`: the OpenAPI document API Gateway receives; requests are validated
        against it when given. `metrics` sees every answer."""
        self.metrics = metrics
        self._router = Router(catalog)
        self._document = document
        self._functions = functions
        self._arn_prefix = f"arn:aws:execute-api:{region}:{account_id}:{api_id}/{STAGE}"
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, dict]] = {}
        self._lock = threading.Lock()

    def template(self, path: str) -> str | None:
        """The route template a path matches (for logs), or None."""
        return next((c.route.path for c in self._router._routes if c.pattern.fullmatch(path)), None)

    def function_of(self, method: str, path: str) -> str | None:
        """The catalog function that serves a method and path (for logs), or None."""
        compiled, _, _ = self._router.match(method, path)
        return compiled.fn.name if compiled else None

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
        source_ip: str = "127.0.0.1",
    ) -> HttpResponse:
        started = time.monotonic()
        timing: dict[str, Any] = {}
        response = self._handle(method, path, query, headers, body, source_ip, timing)
        if self.metrics is not None:
            self.metrics.api_request(
                timing.get("resource"),
                method,
                response.status,
                (time.monotonic() - started) * 1000,
                timing.get("integration_ms"),
            )
        return response

    def _handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
        source_ip: str,
        timing: dict,
    ) -> HttpResponse:
        request_id = str(uuid.uuid4())
        compiled, params, allowed = self._router.match(method, path)
        if compiled is None and method == "OPTIONS" and allowed:
            # CORS preflight: answered by the route's function, never authorized.
            preflight, params, _ = self._router.match(allowed[0], path)
            compiled = cast(_CompiledRoute, preflight)  # allowed[0] has a route on this path
        elif compiled is None:
            if allowed:
                return json_error(
                    405,
                    "method_not_allowed",
                    f"{method} is not allowed on {path}",
                    request_id,
                    {"Allow": ", ".join(sorted(set(allowed)))},
                )
            return json_error(404, "not_found", f"no route for {path}", request_id)
        if len(body) > MAX_PAYLOAD_BYTES:
            return json_error(413, "payload_too_large", "request body exceeds 10 MiB", request_id)
        if sum(len(k) + len(v) for k, v in headers.items()) + len(method) + len(path) > MAX_HEADER_BYTES:
            return json_error(413, "payload_too_large", "request line and headers exceed 10 KiB", request_id)

        route = compiled.route
        timing["resource"] = route.path
        method_arn = f"{self._arn_prefix}/{method}{path}"
        authorizer_context: dict[str, Any] = {}
        if route.authorized and method != "OPTIONS":
            denied = self._authorize(headers, method_arn, request_id, authorizer_context)
            if denied:
                return denied

        # API Gateway validates after authorizing and before the integration.
        invalid = self._validate(method, route, query, headers, body, request_id) if method != "OPTIONS" else None
        if invalid:
            return invalid
        event = self._proxy_event(
            method, path, route, params, query, headers, body, request_id, source_ip, authorizer_context
        )
        integration_started = time.monotonic()
        try:
            reply = self._functions.invoke(compiled.fn.name, event)
            return _to_http(reply)
        except Exception as e:
            # API Gateway answers a failed or malformed Lambda proxy integration with 502,
            # through the DEFAULT_5XX gateway response where the document defines one (the
            # program's sets 500 internal_error): what the deployed stack answers.
            document = self._document
            if document is not None and "DEFAULT_5XX" in document.get("x-amazon-apigateway-gateway-responses", {}):
                return self._gateway_response(document, "DEFAULT_5XX", request_id, server_error=True)
            return json_error(502, "bad_gateway", f"the function failed: {type(e).__name__}", request_id)
        finally:
            timing["integration_ms"] = (time.monotonic() - integration_started) * 1000

    def _validate(
        self,
        method: str,
        route: Route,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
        request_id: str,
    ) -> HttpResponse | None:
        document = self._document
        if document is None or document.get("x-amazon-apigateway-request-validator") is None:
            return None
        validators = document.get("x-amazon-apigateway-request-validators", {})
        operation = document["paths"].get(route.path, {}).get(method.lower(), {})
        validator = validators[
            operation.get("x-amazon-apigateway-request-validator", document["x-amazon-apigateway-request-validator"])
        ]
        if validator.get("validateRequestParameters"):
            for parameter in operation.get("parameters", []):
                if not parameter.get("required") or parameter["in"] not in ("query", "header"):
                    continue
                value = (
                    (query.get(parameter["name"]) or [""])[-1]
                    if parameter["in"] == "query"
                    else _header(headers, parameter["name"])
                )
                if not value.strip():
                    return self._gateway_response(document, "BAD_REQUEST_PARAMETERS", request_id)
        content = (operation.get("requestBody") or {}).get("content", {})
        if validator.get("validateRequestBody") and content:
            # No matching content type (and no $default model): API Gateway does not validate.
            media = (_header(headers, "Content-Type") or "application/json").split(";")[0].strip().lower()
            model = content.get(media) or content.get("$default")
            if model is not None:
                schema = self._resolve(document, model.get("schema", {}))
                try:
                    # Scanned first: a body nested 1,000 deep would exhaust the emulator's
                    # recursion, where API Gateway answers it as an invalid body.
                    jsonschema.Draft4Validator(schema).validate(safejson.loads(body or b""))
                except (ValueError, RecursionError, jsonschema.ValidationError):
                    return self._gateway_response(document, "BAD_REQUEST_BODY", request_id)
        return None

    @staticmethod
    def _resolve(document: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = schema.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            return document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        return schema

    @staticmethod
    def _gateway_response(
        document: Mapping[str, Any], kind: str, request_id: str, server_error: bool = False
    ) -> HttpResponse:
        """The document's gateway response for `kind`, as API Gateway renders it; an
        undefined one falls back to DEFAULT_4XX, or DEFAULT_5XX for a server error."""
        responses = document.get("x-amazon-apigateway-gateway-responses", {})
        response = responses.get(kind) or responses.get("DEFAULT_5XX" if server_error else "DEFAULT_4XX")
        template = response["responseTemplates"]["application/json"].replace("$context.requestId", request_id)
        headers = {
            k.removeprefix("gatewayresponse.header."): v.strip("'")
            for k, v in (response.get("responseParameters") or {}).items()
        }
        return HttpResponse(
            int(response["statusCode"]), {"Content-Type": "application/json", **headers}, template.encode()
        )

    def _authorize(
        self, headers: Mapping[str, str], method_arn: str, request_id: str, context_out: dict
    ) -> HttpResponse | None:
        token = _header(headers, "Authorization")
        if not token:
            return json_error(401, "unauthorized", "missing bearer token", request_id)
        if AUTHORIZER not in self._functions:
            return json_error(401, "unauthorized", "no authorizer is deployed", request_id)
        try:
            started = time.monotonic()
            policy = self._cached_policy(token, method_arn)
            latency_ms = int((time.monotonic() - started) * 1000)
        except AuthorizerFailed:
            if self._document is None:
                return json_error(500, "internal_error", "the authorizer failed", request_id)
            return self._gateway_response(
                self._document, "AUTHORIZER_CONFIGURATION_ERROR", request_id, server_error=True
            )
        if policy is None:
            return json_error(401, "unauthorized", "invalid token", request_id)
        if not policy_allows(policy.get("policyDocument", {}), method_arn):
            return json_error(403, "forbidden", "this token may not call this route", request_id)
        context_out.update(policy.get("context") or {})
        context_out["principalId"] = policy.get("principalId", "")
        # API Gateway adds the authorizer's latency in ms (0 when the answer was cached).
        context_out["integrationLatency"] = latency_ms
        return None

    def _cached_policy(self, token: str, method_arn: str) -> dict | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(token)
            if hit and hit[0] > now:
                return hit[1]
        try:
            policy = self._functions.invoke(
                AUTHORIZER, {"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn}
            )
        except Exception as e:
            if str(e) == "Unauthorized":  # the one error API Gateway answers with 401
                return None
            raise AuthorizerFailed(type(e).__name__) from None
        if not isinstance(policy, dict) or not isinstance(policy.get("policyDocument"), dict):
            raise AuthorizerFailed("malformed authorizer reply")
        with self._lock:
            self._cache[token] = (now + self._cache_seconds, policy)
        return policy

    def _proxy_event(
        self,
        method: str,
        path: str,
        route: Route,
        params: dict,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
        request_id: str,
        source_ip: str,
        authorizer: dict,
    ) -> dict:
        try:
            text, encoded = (body.decode("utf-8"), False) if body else (None, False)
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode(), True
        now, api_id = datetime.now(UTC), self._arn_prefix.split(":")[5].split("/")[0]
        return {
            "resource": route.path,
            "path": path,
            "httpMethod": method,
            "headers": dict(headers),
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": dict(query) or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": route.path,
                "httpMethod": method,
                "path": f"/{STAGE}{path}",
                "stage": STAGE,
                "requestId": request_id,
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "requestTimeEpoch": int(now.timestamp() * 1000),
                # Every key API Gateway sends, null where it has no value for this request
                # (no IAM caller, Cognito identity, API key or client certificate here): as in
                # tests/fixtures/real_events/aws-lambda-go/apigw-request.json.
                "identity": {
                    **dict.fromkeys(IDENTITY_KEYS),
                    "sourceIp": source_ip,
                    "userAgent": _header(headers, "User-Agent"),
                },
                "authorizer": authorizer or None,
                "accountId": self._arn_prefix.split(":")[4],
                "apiId": api_id,
                "resourceId": hashlib.sha256(route.path.encode()).hexdigest()[:6],
                "domainName": f"{api_id}.execute-api.{self._arn_prefix.split(':')[3]}.amazonaws.com",
                "domainPrefix": api_id,
                "extendedRequestId": base64.b64encode(uuid.uuid4().bytes[:10]).decode(),
                "protocol": "HTTP/1.1",
            },
            "body": text,
            "isBase64Encoded": encoded,
        }


IDENTITY_KEYS = (
    "cognitoIdentityPoolId",
    "accountId",
    "cognitoIdentityId",
    "caller",
    "apiKey",
    "apiKeyId",
    "accessKey",
    "sourceIp",
    "principalOrgId",
    "cognitoAuthenticationType",
    "cognitoAuthenticationProvider",
    "userArn",
    "userAgent",
    "user",
    "clientCert",
)


def _header(headers: Mapping[str, str], name: str) -> str:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), "")


def _to_http(reply: Any) -> HttpResponse:
    if not isinstance(reply, dict) or not isinstance(reply.get("statusCode"), int):
        raise ValueError("malformed Lambda proxy response")
    headers = {k: str(v) for k, v in (reply.get("headers") or {}).items()}
    for k, values in (reply.get("multiValueHeaders") or {}).items():
        headers[k] = ", ".join(str(v) for v in values)
    body = reply.get("body") or ""
    data = base64.b64decode(body) if reply.get("isBase64Encoded") else body.encode()
    return HttpResponse(reply["statusCode"], headers, data)
