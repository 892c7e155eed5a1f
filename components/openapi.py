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

ERROR_STATUSES = {
    400: "bad input",
    401: "missing, invalid or expired token",
    403: "not allowed",
    404: "not found",
    413: "body too large",
    422: "body does not match the schema",
    429: "throttled",
    500: "internal error",
}
# Statuses only some routes answer, listed on their catalog Route (`errors`).
ROUTE_ERROR_STATUSES = {503: "a service it depends on is unavailable: send the request again later"}
# Routes that take a JSON body; they answer 415 unsupported_media_type for any other type.
BODY_METHODS = ("POST", "PUT", "PATCH")
SUCCESS_DESCRIPTIONS = {200: "OK", 201: "created", 202: "accepted", 204: "no content"}
AUTHORIZER_SCHEME = "accessToken"
# API Gateway integrations time out at 29 s whatever the function's timeout.
MAX_INTEGRATION_MS = 29_000
# The token authorizer refuses, without being invoked, headers that are not a bearer token.
# The scheme name is case-insensitive (RFC 9110, 11.1); the regex is API Gateway's, which has no flags.
BEARER_PATTERN = r"^[Bb][Ee][Aa][Rr][Ee][Rr] [-0-9A-Za-z._~+/]+=*$"

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "request_id"],
            "properties": {
                "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
                "message": {"type": "string"},
                "request_id": {"type": "string"},
            },
        }
    },
}

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
    return schema


def _path_parameters(path: str) -> list[dict]:
    return [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for n in re.findall(r"\{(\w+)\}", path)
    ]


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
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            schemas[name] = _openapi_30(definition)
        schemas[model.__name__] = _openapi_30(schema)
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
        }
    for status in route.success:
        response: dict[str, Any] = {"description": SUCCESS_DESCRIPTIONS.get(status, "OK")}
        if status != 204:
            response["content"] = {"application/json": {"schema": {"type": "object"}}}
        operation["responses"][str(status)] = response
    unknown = set(route.errors) - set(ROUTE_ERROR_STATUSES)
    if unknown:
        raise ValueError(f"{route.method} {route.path}: no description for status {sorted(unknown)}")
    statuses = {**ERROR_STATUSES, **{s: ROUTE_ERROR_STATUSES[s] for s in route.errors}}
    if route.method in BODY_METHODS:
        statuses[415] = "the body is not Content-Type: application/json (charset optional)"
    for status, description in sorted(statuses.items()):
        operation["responses"][str(status)] = {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
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
            "description": "Generated from functions/catalog.py; the contract is ../shared/API.md.",
        },
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
    # The gateway checks that bodies are JSON objects and parameters are present; the
    # functions validate the full schema (pydantic), identically here and locally.
    for schema_name in list(document["components"]["schemas"]):
        if schema_name != "Error":
            document["components"]["schemas"][schema_name] = {"type": "object"}
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
