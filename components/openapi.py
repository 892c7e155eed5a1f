"""The API's OpenAPI 3.0 document, generated from the catalog.

`contract()` is the document the app and the fuzzer read (docs/openapi.json): every
route, its request model (from the function's pydantic model), and the error format.
`for_api_gateway()` adds what API Gateway needs to build the API from it: Lambda
proxy integrations, the token authorizer with result caching, request validation,
CORS preflight, 405 for undefined methods, and gateway responses in the error format.

`python -m components.openapi` prints the contract (`make openapi` writes the file).
"""

from __future__ import annotations

import copy
import importlib
import json
import re
from collections.abc import Mapping
from typing import Any

from functions.catalog import AUTHORIZER, AUTHORIZER_CACHE_SECONDS, CATALOG, Function, Route

STATUS_DESCRIPTIONS = {
    400: "bad input",
    401: "missing, invalid or expired token",
    403: "not allowed",
    404: "not found",
    409: "conflict: the resource is not in a state that allows this yet",
    413: "body too large",
    415: "the body is not Content-Type: application/json (charset optional)",
    422: "body does not match the schema",
    429: "throttled or over a quota: see Retry-After",
    500: "internal error",
    503: "a service it depends on is unavailable: send the request again later",
}
# The error codes every route can answer: API Gateway's own refusals (GATEWAY_RESPONSES:
# the WAF, throttling, an oversized request, DEFAULT_4XX) and a function's unexpected error.
EVERY_ROUTE = (
    (400, "bad_request"),
    (403, "forbidden"),
    (413, "payload_too_large"),
    (429, "throttled"),
    (500, "internal_error"),
)
# Behind the authorizer: its refusals, and a deleted account's token (common/http.py caller_id).
AUTHORIZED = ((401, "unauthorized"), (403, "forbidden"))
# Routes that take a JSON body (common/http.py parse_json_object).
BODY_METHODS = ("POST", "PUT", "PATCH")
WITH_BODY = ((400, "invalid_json"), (413, "payload_too_large"), (415, "unsupported_media_type"))
# Routes whose body is a pydantic model (common/http.py parse_body).
WITH_MODEL = ((422, "validation_error"),)
# A path parameter the gateway cannot route (an encoded slash, an empty segment).
WITH_PATH_PARAMETERS = ((404, "not_found"),)
# What API Gateway answers outside the document's operations: the gateway response
# MISSING_AUTHENTICATION_TOKEN for a path no resource has, and the program's mock on
# every path for a method it does not define (for_api_gateway).
PATH_ERRORS = (
    (404, "not_found", "a path no route has"),
    (405, "method_not_allowed", "a method the path does not list"),
)
SUCCESS_DESCRIPTIONS = {200: "OK", 201: "created", 202: "accepted", 204: "no content"}
AUTHORIZER_SCHEME = "accessToken"
# API Gateway integrations time out at 29 s whatever the function's timeout.
MAX_INTEGRATION_MS = 29_000
# The token authorizer refuses, without being invoked, headers that are not a bearer token.
# The scheme name is case-insensitive (RFC 9110, 11.1); the regex is API Gateway's, which has no flags.
BEARER_PATTERN = r"^[Bb][Ee][Aa][Rr][Ee][Rr] [-0-9A-Za-z._~+/]+=*$"
CODE_PATTERN = "^[a-z][a-z0-9_]*$"


def _error_schema(codes: list[str] | None = None) -> dict:
    """The contract's error body; `codes`, when given, are the only codes it may carry."""
    code: dict[str, Any] = {"type": "string", "enum": codes} if codes else {"type": "string", "pattern": CODE_PATTERN}
    return {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "request_id"],
                "properties": {
                    "code": code,
                    "message": {"type": "string"},
                    "request_id": {"type": "string"},
                    # seconds before asking again (also Retry-After): 429 quota_exceeded, 503 jobs_paused
                    "retry_after": {"type": "integer", "minimum": 1},
                },
            }
        },
    }


ERROR_SCHEMA = _error_schema()

# API Gateway's own refusals, answered in the contract's error format.
GATEWAY_RESPONSES = {
    "MISSING_AUTHENTICATION_TOKEN": (404, "not_found", "no such route"),  # what REST APIs answer for unknown paths
    "UNAUTHORIZED": (401, "unauthorized", "missing, invalid or expired access token"),
    "ACCESS_DENIED": (403, "forbidden", "this token may not call this route"),
    "EXPIRED_TOKEN": (401, "unauthorized", "expired access token"),
    "INVALID_SIGNATURE": (401, "unauthorized", "invalid access token"),
    "BAD_REQUEST_BODY": (400, "invalid_json", "the body must be a JSON object"),
    "BAD_REQUEST_PARAMETERS": (400, "bad_request", "missing or invalid parameters"),
    "REQUEST_TOO_LARGE": (413, "payload_too_large", "request body exceeds 10 MiB"),
    "UNSUPPORTED_MEDIA_TYPE": (415, "unsupported_media_type", "send application/json"),
    "THROTTLED": (429, "throttled", "too many requests, slow down"),
    "QUOTA_EXCEEDED": (429, "throttled", "too many requests, slow down"),
    "WAF_FILTERED": (403, "forbidden", "request blocked"),
    "AUTHORIZER_FAILURE": (500, "internal_error", "authorization failed on our side"),
    "DEFAULT_4XX": (400, "bad_request", "the request could not be served"),
    "DEFAULT_5XX": (500, "internal_error", "something went wrong on our side"),
}


def _model(reference: str):
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def _openapi_30(schema: Any) -> Any:
    """pydantic's JSON Schema (2020-12) as an OpenAPI 3.0 schema object."""
    if isinstance(schema, list):
        return [_openapi_30(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {k: _openapi_30(v) for k, v in schema.items()}
    options = schema.get("anyOf")
    if options and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        extra = {k: v for k, v in schema.items() if k != "anyOf"}
        base = rest[0] if len(rest) == 1 else {"anyOf": rest}
        if "$ref" in base:
            base = {"allOf": [base]}
        if "enum" in base:  # `nullable` does not extend an enum: null must be listed
            base = {**base, "enum": [*base["enum"], None]}
        schema = {**base, **extra, "nullable": True}
    if "const" in schema:
        schema["enum"] = [schema.pop("const")]
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(schema.get(bound), (int, float)) and not isinstance(schema[bound], bool):
            schema[limit], schema[bound] = schema[bound], True  # 3.0: a flag on minimum/maximum
    return schema


def _path_parameters(path: str) -> list[dict]:
    return [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for n in re.findall(r"\{(\w+)\}", path)
    ]


def route_error_codes(route: Route) -> dict[int, set[str]]:
    """Every (status, error code) the route can answer, by status."""
    pairs = list(EVERY_ROUTE) + list(route.errors)
    if route.authorized:
        pairs += AUTHORIZED
    if route.method in BODY_METHODS:
        pairs += WITH_BODY
    if route.body:
        pairs += WITH_MODEL
    if _path_parameters(route.path):
        pairs += WITH_PATH_PARAMETERS
    codes: dict[int, set[str]] = {}
    for status, code in pairs:
        if status not in STATUS_DESCRIPTIONS:
            raise ValueError(f"{route.method} {route.path}: no description for status {status}")
        if not re.match(CODE_PATTERN, code):
            raise ValueError(f"{route.method} {route.path}: error code {code!r} is not snake_case")
        codes.setdefault(status, set()).add(code)
    return codes


def _add_schemas(model: Any, schemas: dict, mode: str) -> None:
    """`model`'s JSON schema and its definitions, as OpenAPI 3.0 components."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
    for name, definition in {**schema.pop("$defs", {}), model.__name__: schema}.items():
        converted = _openapi_30(definition)
        if schemas.setdefault(name, converted) != converted:
            raise ValueError(f"two different schemas named {name}: rename one of the models")


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _operation(fn: Function, route: Route, schemas: dict) -> dict:
    operation: dict[str, Any] = {
        "operationId": f"{fn.name}_{route.method.lower()}_"
        + re.sub(r"\W+", "_", route.path.removeprefix("/api/v1/")).strip("_"),
        "tags": [fn.name],
        "responses": {},
    }
    parameters = _path_parameters(route.path)
    if parameters:
        operation["parameters"] = parameters
    if route.body:
        model = _model(route.body)
        _add_schemas(model, schemas, "validation")
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(model.__name__)}},
        }
    success_model = None
    if route.response:
        success_model = _model(route.response)
        _add_schemas(success_model, schemas, "serialization")
    for status in route.success:
        response: dict[str, Any] = {"description": SUCCESS_DESCRIPTIONS.get(status, "OK")}
        if status != 204 and success_model is None:  # an untyped answer (tests' catalogs; the catalog's are typed)
            response["content"] = {"application/json": {"schema": {"type": "object"}}}
        elif status != 204 and success_model is not None:
            # Each response model's module holds an example of it (a test validates them).
            example = importlib.import_module(success_model.__module__).EXAMPLES[success_model.__name__]
            response["content"] = {"application/json": {"schema": _ref(success_model.__name__), "example": example}}
        operation["responses"][str(status)] = response
    for status, codes in sorted(route_error_codes(route).items()):
        listed = sorted(codes)
        operation["responses"][str(status)] = {
            "description": f"{STATUS_DESCRIPTIONS[status]}: {', '.join(listed)}",
            "content": {
                "application/json": {
                    "schema": _error_schema(listed),
                    "example": {
                        "error": {
                            "code": listed[0],
                            "message": STATUS_DESCRIPTIONS[status],
                            "request_id": "c6a1f0de-5b7e-4d7a-9f0e-2b8d3c4e5f60",
                        }
                    },
                }
            },
        }
    if route.authorized:
        operation["security"] = [{AUTHORIZER_SCHEME: []}]
    return operation


def contract(catalog: tuple[Function, ...] = CATALOG) -> dict:
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, dict] = {}
    for fn in catalog:
        for route in fn.routes:
            paths.setdefault(route.path, {})[route.method.lower()] = _operation(fn, route, schemas)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Serenya API",
            "version": "1",
            "description": "Generated from functions/catalog.py; the contract is ../shared/API.md. "
            "Outside any operation: a path no route has answers 404 not_found, a method its path "
            "does not list 405 method_not_allowed (x-serenya-path-errors), in the Error body.",
        },
        # The answers no operation can carry (OpenAPI lists the methods a path has, not others).
        "x-serenya-path-errors": [
            {"status": status, "code": code, "description": text} for status, code, text in PATH_ERRORS
        ],
        "paths": {p: paths[p] for p in sorted(paths)},
        "components": {
            "schemas": {n: schemas[n] for n in sorted(schemas)},
            "securitySchemes": {AUTHORIZER_SCHEME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def _error_template(code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message, "request_id": "$context.requestId"}})


def _integration(invoke_arn: str, fn: Function) -> dict:
    return {
        "type": "aws_proxy",
        "httpMethod": "POST",
        "uri": invoke_arn,
        "passthroughBehavior": "when_no_match",
        "timeoutInMillis": min(MAX_INTEGRATION_MS, fn.timeout_s * 1000),
    }


def for_api_gateway(
    catalog: tuple[Function, ...], invoke_arns: Mapping[str, str], name: str, allowed_origins: tuple[str, ...]
) -> dict:
    """The contract plus API Gateway's extensions, with each function's invoke ARN."""
    document = copy.deepcopy(contract(catalog))
    document["info"]["title"] = name
    del document["x-serenya-path-errors"]  # the clients' note; the gateway has its own mock below
    owners = {route.path: fn for fn in catalog for route in fn.routes}
    authorizer = next((fn for fn in catalog if fn.name == AUTHORIZER), None)
    document["components"]["securitySchemes"] = (
        {
            AUTHORIZER_SCHEME: {
                "type": "apiKey",
                "name": "Authorization",
                "in": "header",
                "x-amazon-apigateway-authtype": "custom",
                "x-amazon-apigateway-authorizer": {
                    "type": "token",
                    "authorizerUri": invoke_arns[authorizer.name] if authorizer else "",
                    "authorizerResultTtlInSeconds": AUTHORIZER_CACHE_SECONDS,
                    "identityValidationExpression": BEARER_PATTERN,
                },
            }
        }
        if authorizer
        else {}
    )
    functions = {fn.name: fn for fn in catalog}
    for path, operations in document["paths"].items():
        for operation in operations.values():
            fn = functions[operation["tags"][0]]
            operation["x-amazon-apigateway-integration"] = _integration(invoke_arns[fn.name], fn)
        owner = owners[path]
        # CORS preflight goes to the function (Powertools answers it), never authorized.
        operations["options"] = {
            "responses": {"200": {"description": "CORS preflight"}},
            "x-amazon-apigateway-integration": _integration(invoke_arns[owner.name], owner),
        }
        # A method the path does not define answers 405, as the local stack does.
        operations["x-amazon-apigateway-any-method"] = {
            "responses": {"405": {"description": "method not allowed"}},
            "x-amazon-apigateway-integration": {
                "type": "mock",
                "requestTemplates": {"application/json": '{"statusCode": 405}'},
                "responses": {
                    "default": {
                        "statusCode": "405",
                        "responseTemplates": {
                            "application/json": _error_template("method_not_allowed", "this method is not allowed here")
                        },
                    }
                },
            },
        }
    # API Gateway imports every schema as a model, in JSON Schema draft 4 without `example`,
    # `oneOf`/`anyOf`, `discriminator`, `nullable` or `pattern` (its REST API import notes):
    # the gateway's copy keeps the contract's routes and statuses but reduced bodies. It
    # checks that bodies are JSON objects and parameters are present; the functions
    # validate the full schema (pydantic), identically here and locally. Clients read the
    # full document (docs/openapi.json, GET /openapi.json locally).
    requests = set()
    for operations in document["paths"].values():
        for operation in operations.values():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            if body:
                requests.add(body["schema"]["$ref"].rsplit("/", 1)[-1])
            for status, response in operation.get("responses", {}).items():
                if "content" in response:
                    schema = {"$ref": "#/components/schemas/Error"} if int(status) >= 400 else {"type": "object"}
                    response["content"] = {"application/json": {"schema": schema}}
    document["components"]["schemas"] = {
        "Error": ERROR_SCHEMA,
        **{name: {"type": "object"} for name in sorted(requests)},
    }
    document["x-amazon-apigateway-request-validators"] = {
        "body-and-parameters": {"validateRequestBody": True, "validateRequestParameters": True}
    }
    document["x-amazon-apigateway-request-validator"] = "body-and-parameters"
    cors = (
        {"gatewayresponse.header.Access-Control-Allow-Origin": f"'{allowed_origins[0]}'"}
        if len(allowed_origins) == 1
        else {}
    )
    document["x-amazon-apigateway-gateway-responses"] = {
        kind: {
            "statusCode": str(status),
            "responseParameters": cors,
            "responseTemplates": {"application/json": _error_template(code, message)},
        }
        for kind, (status, code, message) in GATEWAY_RESPONSES.items()
    }
    return document


def main() -> None:
    print(json.dumps(contract(), indent=2, sort_keys=False))


if __name__ == "__main__":
    main()
