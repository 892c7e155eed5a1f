"""Least privilege, proven by the calls made: every AWS call each function made during the
end-to-end tests (recorded by tests/e2e/conftest.py's `recorder`) is allowed by the role
policy the program generated for it (components/iam.py) and, for KMS, by the key's
policy too (components/storage.py, components/observability.py); and every statement of
every role was needed by some call, or is listed below with the reason no call here
could need it.

The calls checked are those of the journey below, which calls every function the local
stack runs, and of whatever other end-to-end tests ran before it in the same session: it
passes alone and in any order (the recorder is the package's).

Evaluation rules: local/iam_eval.py; what each call needs: local/aws_calls.py.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html
"""

import time
from collections import defaultdict

import pytest
import requests

from local.aws_calls import Facts, Requirements
from local.iam_eval import evaluate, kms_allowed
from tests.fixtures.lab_reports import TABLE

# Statements no call of the local stack can need, by (function or "*", Sid), with why.
NOT_EXERCISED_LOCALLY = {
    ("*", "WriteOwnLogs"): "the Lambda runtime writes the function's logs with its role; the local runtime "
                           "prints them",
    ("*", "WriteTraces"): "X-Ray segments are sent by the Lambda runtime and the SDK's tracer, disabled locally "
                          "(POWERTOOLS_TRACE_DISABLED: no X-Ray daemon)",
    ("*", "ListTableStreams"): "Lambda's event source mapping may list the table's streams; the local poller is "
                               "given the stream ARN the program declares",
    ("*", "SendFailedEvents"): "only an event that failed for good is sent there (process's is, by "
                               "test_process_retries.py; tests/local/test_local_stack.py covers the stream's)",
    ("process", "InvokeModel"): "the local stack analyses with the offline analyser; Bedrock calls are tested "
                                "against stubs in tests/functions/test_process.py",
    ("process", "InvokeModelThroughProfile"): "the same: the foundation model behind the inference profile",
    ("compaction", "ReadAuditEvents"): "compaction is scheduled (EventBridge); the local stack does not run "
                                       "schedules",
    ("compaction", "ListAuditEvents"): "compaction is scheduled; not run locally",
    ("compaction", "WriteAuditEvents"): "compaction is scheduled; not run locally",
    ("compaction", "UseStorageKeyThroughServices"): "compaction is scheduled; not run locally",
    ("compaction", "ReadAnalyticsIds"): "compaction is scheduled; its account lookups (legacy days only) are "
                                        "tested in tests/analytics/test_pipeline.py",
    ("compaction", "UseTableKeyThroughDynamoDB"): "compaction is scheduled; not run locally",
    # A finding, left to the IAM hardening work: `status` reads S3 metadata only (HeadObject
    # needs s3:GetObject but no key), yet temp_read gives it kms:Decrypt on the data key.
    ("status", "UseStorageKeyThroughServices"): "OVER-GRANT: status only calls HeadObject, which needs no "
                                                "kms:Decrypt; the catalog's Access cannot say 'metadata only' yet",
}


@pytest.fixture(scope="module")
def facts(stack):
    return Facts.from_program(stack.program)


def _finished(client, path, token, timeout=30.0):
    """The job's answer once it leaves pending/processing (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = client.call("GET", path, token=token)
        if status != 200 or body["status"] in ("completed", "failed") or time.monotonic() > deadline:
            return status, body
        time.sleep(0.05)


@pytest.fixture(scope="module")
def journey(client, stack, recorder):
    """One user through every function the local stack runs, so the calls checked below
    exist whichever tests ran before: onboard (auth, authorizer, stream_processor), profile,
    an analysed upload (upload, process, status, result), a job never uploaded (reads of a
    missing key), chat (prompts, messages, status), premium through a Google Play
    notification (subscriptions' secret), a doctor report, cleanup, and deleting the account
    (user_profile lists and deletes the job files)."""
    status, onboarded = client.onboard("google", "least-privilege-journey")
    assert status in (200, 201), onboarded
    token, user_id = onboarded["access_token"], onboarded["user"]["id"]
    assert client.call("GET", "/api/v1/user/profile", token=token)[0] == 200

    status, ticket = client.call("POST", "/api/v1/process/upload",
                                 {"content_type": "application/pdf", "file_size": len(TABLE.pdf())}, token=token)
    assert status == 201, ticket
    response = requests.post(ticket["upload"]["url"], data=ticket["upload"]["fields"],
                             files={"file": ("report", TABLE.pdf(), "application/pdf")}, timeout=10)
    assert response.status_code in (200, 201, 204), response.text[:300]
    job_id = ticket["job_id"]
    assert _finished(client, f"/api/v1/process/status/{job_id}", token)[1]["status"] == "completed"
    status, outcome = client.call("GET", f"/api/v1/process/result/{job_id}", token=token)
    assert status == 200 and outcome["status"] == "completed", outcome
    # A job whose file never came: its reads find no object (S3's 404 needs s3:ListBucket).
    waiting = client.call("POST", "/api/v1/process/upload", {"content_type": "application/pdf", "file_size": 10},
                          token=token)[1]["job_id"]
    assert client.call("GET", f"/api/v1/process/status/{waiting}", token=token)[1]["status"] == "pending"
    assert client.call("GET", f"/api/v1/process/result/{waiting}", token=token)[0] == 409

    assert client.call("GET", "/api/v1/chat/prompts", token=token)[0] == 200
    status, chat = client.call("POST", "/api/v1/chat/messages",
                               {"message": "What does my potassium result mean?",
                                "context": {"results": [outcome["result"]]}}, token=token)
    assert status == 202, chat
    assert _finished(client, f"/api/v1/chat/status/{chat['job_id']}", token)[1]["status"] == "completed"
    # A chat of this user's that was never sent: chat_status's reads find no object (S3's
    # 404 needs s3:ListBucket), which a poll of a finished chat may never make.
    never = f"chat_{user_id}_{int(time.time() * 1000)}_{'0' * 16}"
    assert client.call("GET", f"/api/v1/chat/status/{never}", token=token)[1]["error"]["code"] == "job_not_found"

    body, headers = stack.store.google_notification(user_id, 4, "health.serenya.premium.monthly")
    assert client.call("POST", "/api/v1/subscriptions/webhook", body, headers=headers)[1]["outcome"] == "applied"
    assert client.call("GET", "/api/v1/subscriptions", token=token)[1]["type"] == "premium"
    status, report = client.call("POST", "/api/v1/process/doctor-report",
                                 {"results": [{"date": "2026-01-10", "result": outcome["result"]}]}, token=token)
    assert status == 202, report
    assert _finished(client, f"/api/v1/process/status/{report['job_id']}", token)[1]["status"] == "completed"

    assert client.call("DELETE", f"/api/v1/process/cleanup/{job_id}", token=token)[0] == 204
    # The canary's scheduled run: its account, its own token key, the authorizer verifying it.
    canary = stack.schedules["canary"]
    canary.poll_once()
    assert canary.answers[-1]["ok"], canary.answers[-1]
    _cold_containers(client)
    assert client.call("DELETE", "/api/v1/user/profile", token=token)[0] == 204
    # The stream poller hands account changes to stream_processor in batches (a window of
    # seconds): wait until it has written audit events (this journey's, or earlier ones').
    deadline = time.monotonic() + 30
    while not _audit_writes(recorder) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _audit_writes(recorder), "stream_processor wrote no audit events"


def _audit_writes(recorder):
    return sum(c.function == "stream_processor" and c.operation == "PutObject" for c in list(recorder.calls))


def _cold_containers(client):
    """`auth` caches the per-user data key it just made; `user_profile`, in its own
    container (local/isolation.py), has no key cached and makes its own KMS calls, which
    are then checked."""
    token = client.onboard("google", "least-privilege-cold")[1]["access_token"]
    assert client.call("GET", "/api/v1/user/profile", token=token)[0] == 200
    assert client.call("PUT", "/api/v1/user/profile", {"given_name": "Lee"}, token=token)[0] == 200


@pytest.fixture(scope="module")
def evaluated(stack, recorder, facts, journey):
    """(function, call, request, decision, identity decision) for every requirement of every call."""
    requirements = Requirements(facts)
    rows = []
    for call in list(recorder.calls):
        for request in requirements.required(call):
            request = type(request)(request.action, request.resource, request.context, facts.roles[call.function])
            identity = [evaluate(p, request) for p in facts.role_policies[call.function]]
            if request.action.startswith("kms:"):
                decision = kms_allowed(facts.key_policies[request.resource], facts.role_policies[call.function],
                                       request)
            else:
                decision = identity[0] if len(identity) == 1 else next((d for d in identity if d), identity[0])
                if any(d.denied_by for d in identity):
                    decision = next(d for d in identity if d.denied_by)
            rows.append((call.function, call, request, decision, identity))
    return rows


def test_the_journey_called_every_function_the_local_stack_runs(recorder, stack, journey):
    """The evaluation below means something only if every function the local stack runs
    made calls (compaction is scheduled, chat_prompts answers from code)."""
    called = {c.function for c in recorder.calls}
    runnable = {fn.name for fn in stack.catalog if fn.name != "compaction" and fn.name != "chat_prompts"}
    assert runnable <= called, f"no calls recorded for {sorted(runnable - called)}: the journey misses them"


def test_every_call_is_allowed_by_the_functions_role_and_key_policies(evaluated):
    refused = sorted({f"{fn}: {call.service}.{call.operation} needs {r.action} on {r.resource} "
                      f"(context {dict(r.context)})" for fn, call, r, decision, _ in evaluated if not decision})
    assert not refused, "\n".join(refused)


def test_every_statement_is_used_by_some_call_or_excused(evaluated, facts):
    used = defaultdict(set)
    for fn, _, _, _, identity in evaluated:
        for decision in identity:
            used[fn].update(decision.allowed_by)
    unused, stale = [], []
    for fn, policies in facts.role_policies.items():
        for policy in policies:
            for statement in policy["Statement"]:
                sid = statement["Sid"]
                excused = (fn, sid) in NOT_EXERCISED_LOCALLY or ("*", sid) in NOT_EXERCISED_LOCALLY
                if sid not in used[fn] and not excused:
                    unused.append(f"{fn}: {sid} {statement['Action']} on {statement['Resource']}")
                if (fn, sid) in NOT_EXERCISED_LOCALLY and sid in used[fn]:
                    stale.append(f"{fn}: {sid} is excused but a call used it")
    assert not unused, "statements no call needed (remove them, or say why below):\n" + "\n".join(unused)
    assert not stale, "\n".join(stale)
    # Every excuse names a statement that exists.
    statements = {(fn, s["Sid"]) for fn, ps in facts.role_policies.items() for p in ps for s in p["Statement"]}
    sids = {sid for _, sid in statements}
    for fn, sid in NOT_EXERCISED_LOCALLY:
        assert ((fn, sid) in statements) if fn != "*" else (sid in sids), f"excuse for a missing statement {fn}/{sid}"


def test_a_missing_key_read_was_answered_404_because_the_role_may_list(evaluated):
    """S3 answers 404 for a missing key only to a caller with s3:ListBucket; the functions
    tell "not found" from "forbidden" on it (status, result, cleanup), so some call must
    have needed it and been allowed.
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html"""
    not_found = [(fn, r) for fn, call, r, decision, _ in evaluated
                 if call.status == 404 and call.service == "s3" and r.action == "s3:ListBucket"]
    assert not_found, "no recorded S3 read of a missing key"
    assert all(d for fn, c, r, d, _ in evaluated if c.status == 404 and r.action == "s3:ListBucket")


def test_service_calls_to_kms_were_checked_with_their_encryption_context(evaluated):
    """S3 and Secrets Manager use the data key with the caller's permissions: those derived
    calls were evaluated, with kms:ViaService and the service's encryption context."""
    via = {(r.context.get("kms:ViaService", "").split(".")[0], r.action) for *_, r, _, _ in
           [(fn, c, r, d, i) for fn, c, r, d, i in evaluated] if "kms:ViaService" in r.context}
    assert {("s3", "kms:GenerateDataKey"), ("s3", "kms:Decrypt"), ("secretsmanager", "kms:Decrypt")} <= via



def test_each_function_sees_only_the_variables_the_program_gives_it(stack):
    """Least privilege for configuration too: on Lambda a function reads its own variables
    only, and so it does here (local/isolation.py), so a function reading a setting the
    program does not give it fails locally as it would on AWS. The model id is the process
    function's, the quotas the model-work routes'."""
    own = {}
    for deployed in stack.program.mocks.of_type("aws:lambda/function:Function"):
        name = next(n for n, p in stack.program.outputs["functions"].items() if p == deployed.inputs["name"])
        own[name] = set(deployed.inputs.get("environment", {}).get("variables", {}))
    seen = {name: set(stack.functions.module(name, "functions.common.settings").os.environ) for name in own}
    for name, variables in seen.items():
        extra = {v for v in variables - own[name] if not v.startswith("AWS_")}
        assert extra <= {"POWERTOOLS_TRACE_DISABLED", "GOOGLE_ISSUER", "GOOGLE_JWKS_URL", "APPLE_ISSUER",
                         "APPLE_JWKS_URL", "APPLE_ROOT_SHA256", "PLAY_API_BASE_URL"}, (name, extra)
        assert own[name] <= variables
    assert "BEDROCK_MODEL_ID" in seen["process"] and "BEDROCK_MODEL_ID" not in seen["user_profile"]
    assert "QUOTAS" not in seen["authorizer"]
