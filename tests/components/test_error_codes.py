"""Every error code the code can answer is in docs/openapi.json, on the route and status
that answers it: the codes are read from the source (each `ApiError(status, "code", ...)`
and each job failure code), not from a list kept by hand beside it."""

import ast
import json
from http import HTTPStatus
from pathlib import Path

from components import openapi
from functions.catalog import CATALOG
from functions.common.jobs import ERROR_MESSAGES

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def _status(node):
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "HTTPStatus":
        return HTTPStatus[node.attr].value
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    raise AssertionError(f"line {node.lineno}: an ApiError's status must be HTTPStatus.X or a number")


def _called(node, name):
    if not isinstance(node, ast.Call):
        return False
    return getattr(node.func, "id", None) == name or getattr(node.func, "attr", None) == name


def raised(paths, name="ApiError"):
    """(status, code) of every `ApiError(status, "code", ...)` in these files."""
    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if _called(node, name) and name == "ApiError":
                code = node.args[1]
                assert isinstance(code, ast.Constant), f"{path}:{node.lineno}: the code must be a literal"
                found.add((_status(node.args[0]), code.value))
            elif _called(node, name):  # InputError("code", ...) and jobs.failed(job, "code")
                literal = [a for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
                if literal:
                    found.add(literal[0].value)
    return found


def documented(paths, operations):
    """{(status, code)} of the given operations, from the document's per-status enums."""
    pairs = set()
    for path, method in operations:
        for status, response in paths[path][method]["responses"].items():
            schema = response.get("content", {}).get("application/json", {}).get("schema", {})
            codes = schema.get("properties", {}).get("error", {}).get("properties", {}).get("code", {})
            pairs |= {(int(status), c) for c in codes.get("enum", [])}
    return pairs


def test_each_function_documents_every_code_its_own_code_raises():
    paths = openapi.contract()["paths"]
    checked = 0
    for fn in CATALOG:
        if not fn.routes:
            continue
        emitted = raised(sorted((FUNCTIONS / fn.name).glob("*.py")))
        listed = documented(paths, [(r.path, r.method.lower()) for r in fn.routes])
        assert emitted <= listed, f"{fn.name} answers codes docs/openapi.json does not list: {emitted - listed}"
        checked += len(emitted)
    assert checked >= 20  # the collector does find the handlers' errors


def test_the_shared_code_and_the_gateway_answer_only_documented_codes():
    """common/http.py's errors reach every route that uses its helpers; API Gateway's own
    refusals (GATEWAY_RESPONSES) reach every route."""
    paths = openapi.contract()["paths"]
    every = documented(paths, [(p, m) for p, ops in paths.items() for m in ops])
    common = raised(sorted((FUNCTIONS / "common").glob("*.py")))
    assert {(400, "invalid_json"), (413, "payload_too_large"), (422, "validation_error")} <= common
    assert common <= every, common - every
    gateway = {(status, code) for status, code, _ in openapi.GATEWAY_RESPONSES.values()}
    for path, operations in paths.items():
        for method in operations:
            listed = documented(paths, [(path, method)])
            # 401s come from the authorizer, which guards authorized routes only; body checks
            # apply to routes that take one; 404 not_found answers paths no route has
            expected = {p for p in gateway if p[0] != 401 or "security" in operations[method]}
            if "requestBody" not in operations[method]:
                expected -= {(400, "invalid_json"), (415, "unsupported_media_type")}
            assert expected - {(404, "not_found")} <= listed, (method, path, expected - listed)


def test_every_job_failure_code_is_in_the_job_error_enum():
    process = sorted((FUNCTIONS / "process").glob("*.py"))
    codes = raised(process, "InputError") | raised(process, "failed")
    assert {"document_too_long", "unsupported_document", "model_unavailable", "processing_timeout"} <= codes
    enum = set(openapi.contract()["components"]["schemas"]["JobError"]["properties"]["code"]["enum"])
    assert codes <= enum == set(ERROR_MESSAGES), codes - enum


def test_the_collector_sees_a_code_the_document_would_miss(tmp_path):
    """The comparison fails for an undocumented code: a handler raising one is caught."""
    handler = tmp_path / "handler.py"
    handler.write_text('raise ApiError(HTTPStatus.CONFLICT, "brand_new_code", "x")\n')
    paths = openapi.contract()["paths"]
    emitted = raised([handler])
    assert emitted == {(409, "brand_new_code")}
    assert not emitted <= documented(paths, [("/api/v1/process/result/{job_id}", "get")])


def test_the_gateways_own_answers_are_documented_on_the_operations_or_outside_them():
    """The local gateway stands in for API Gateway: every (status, code) it answers is in
    the document, on the operations or in x-serenya-path-errors (404 for a path no route
    has, 405 for a method a path lacks: the program's mock answers the same, review of 26).
    Its 502 bad_gateway answers only without a document (unit tests): with the program's,
    a failed function gets the DEFAULT_5XX gateway response."""
    document = openapi.contract()
    paths = document["paths"]
    every = documented(paths, [(p, m) for p, ops in paths.items() for m in ops])
    outside = {(e["status"], e["code"]) for e in document["x-serenya-path-errors"]}
    gateway = Path(__file__).resolve().parents[2] / "local" / "gateway.py"
    answered = set()
    for node in ast.walk(ast.parse(gateway.read_text())):
        if _called(node, "json_error") and len(node.args) >= 2 and all(isinstance(a, ast.Constant)
                                                                        for a in node.args[:2]):
            answered.add((node.args[0].value, node.args[1].value))
    assert {(405, "method_not_allowed"), (404, "not_found"), (502, "bad_gateway")} <= answered
    assert answered - {(502, "bad_gateway")} <= every | outside, answered - every - outside
    mock = openapi.for_api_gateway(CATALOG, {fn.name: "arn" for fn in CATALOG}, "api", ("https://app.example",))
    any_method = next(iter(mock["paths"].values()))["x-amazon-apigateway-any-method"]
    template = any_method["x-amazon-apigateway-integration"]["responses"]["default"]["responseTemplates"]
    assert (405, json.loads(template["application/json"])["error"]["code"]) in outside
