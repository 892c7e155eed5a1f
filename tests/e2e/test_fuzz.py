"""Schema-driven fuzzing of the local stack from docs/openapi.json (a short run here;
`make fuzz` runs more than 10,000 requests): never a 5xx, every answer documented and
shaped as documented, with and without a valid access token."""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from local.program import ROOT

schema = schemathesis.openapi.from_path(ROOT / "docs" / "openapi.json")
# `make fuzz` raises the examples per operation and prints how many requests were sent.
EXAMPLES = int(os.environ.get("SERENYA_FUZZ_EXAMPLES", "8"))
CHECKS = dict(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 8,
              suppress_health_check=list(HealthCheck))
# Business rules refuse some schema-valid requests on purpose (consent_required,
# unknown_prompt, file_too_large, premium_required): every other check applies.
EXCLUDED = [positive_data_acceptance]


@pytest.fixture(scope="module", autouse=True)
def no_server_errors(stack):
    """Over the whole run, across both tests: no 5xx at all, and a count of requests."""
    before = stack.statuses.copy()
    yield
    sent = stack.statuses - before
    print(f"\nfuzzing: {sum(sent.values())} requests, by status: {dict(sorted(sent.items()))}")
    assert not {s for s in sent if s >= 500}, sent


@pytest.fixture(scope="module")
def token(client):
    return client.onboard("google", "fuzz-target")[1]["access_token"]


@schema.parametrize()
@settings(**CHECKS)
def test_without_a_token(case, stack):
    case.call_and_validate(base_url=stack.url, excluded_checks=EXCLUDED)


@schema.parametrize()
@settings(**CHECKS)
def test_with_a_token(case, stack, token):
    if case.method == "DELETE" and case.path == "/api/v1/user/profile":
        pytest.skip("would delete the token's account for the other operations")
    case.call_and_validate(base_url=stack.url, headers={"Authorization": f"Bearer {token}"},
                           excluded_checks=EXCLUDED)


def test_the_checks_refuse_answers_the_document_does_not_describe(stack):
    """The run above checks response schemas, status codes and content types (EXCLUDED
    leaves them on): an answer off the document, fed to the same validation, fails it."""
    import json

    import requests
    from schemathesis.core.failures import FailureGroup
    from schemathesis.core.transport import Response

    case = schema["/api/v1/process/status/{job_id}"]["GET"].Case(path_parameters={"job_id": "x"})
    job = "result_6f1c2a9e-3b7d-4e0a-9c51-2d8f7e6a1b30_1767605400000_3f9c0a1b2c3d4e5f"
    request = requests.Request("GET", f"{stack.url}/api/v1/process/status/x", headers={"Authorization": "Bearer t"})

    def check(status, body, content_type="application/json"):
        case.validate_response(Response(status_code=status, headers={"content-type": [content_type]},
                                        content=json.dumps(body).encode(), request=request.prepare(),
                                        elapsed=0.01, verify=False),
                               headers={"Authorization": "Bearer t"}, excluded_checks=EXCLUDED)

    check(200, {"job_id": job, "status": "completed"})
    for wrong in [(200, {"job_id": job, "status": "lost"}), (418, {}),
                  (404, {"error": {"code": "not_a_documented_code", "message": "m", "request_id": "r"}}),
                  (200, {"job_id": job, "status": "completed"}, "text/html")]:
        with pytest.raises(FailureGroup) as refused:
            check(*wrong)
        titles = {f.title for f in refused.value.exceptions}
        assert titles & {"Response violates schema", "Undocumented status code", "Undocumented Content-Type"}, titles
