"""Identity on the local stack: AWS calls per route and the authorizer's warm latency.

AWS calls are counted at the boto3 level inside the functions, so they are what the
deployed functions would make. Latencies are of this machine against moto over
loopback: compare them with each other, not with DynamoDB or KMS.
"""

from __future__ import annotations

import collections
import json
import statistics
import time
import urllib.request

import boto3

DEVICE = {"platform": "ios", "device_id": "bench"}
CONSENTS = {"privacy_policy": {"version": "1", "accepted": True}, "terms_of_service": {"version": "1", "accepted": True}}
WARM_CALLS = 1000


class CallCounter:
    def __init__(self):
        self.calls: collections.Counter[str] = collections.Counter()
        boto3._get_default_session().events.register("before-call.*.*", self._count)

    def _count(self, event_name: str, **_):
        _, service, operation = event_name.split(".")
        self.calls[f"{service}.{operation}"] += 1

    def take(self) -> dict[str, int]:
        taken, self.calls = dict(self.calls), collections.Counter()
        return taken


def call(base, method, path, body=None, token=None):
    request = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def percentile(values, q):
    return statistics.quantiles(values, n=100)[q - 1]


def run(stack, counter: CallCounter) -> str:
    base = stack.url
    lines = ["## Identity (local stack)", "",
             "### AWS calls per request, made by the functions", "",
             "| request | calls | detail |", "| --- | --- | --- |"]

    def measure(label, method, path, body=None, token=None, expect=None):
        counter.take()
        status, answer = call(base, method, path, body, token)
        assert expect is None or status == expect, (label, status, answer)
        calls = counter.take()
        detail = ", ".join(f"{k} x{v}" for k, v in sorted(calls.items()))
        lines.append(f"| {label} ({status}) | {sum(calls.values())} | {detail} |")
        return answer

    id_token = call(base, "POST", "/local/idp/google/token", {"sub": "bench", "email": "b@example.com"})[1]["id_token"]
    onboard = {"provider": "google", "id_token": id_token, "device": DEVICE, "consents": CONSENTS}
    token = measure("onboarding, new user (cold)", "POST", "/api/v1/auth/oauth-onboarding", onboard, expect=201)["access_token"]
    measure("sign-in", "POST", "/api/v1/auth/oauth-signin", {"provider": "google", "id_token": id_token,
                                                             "device": DEVICE}, expect=200)
    measure("GET profile, first (authorizer cold for this token)", "GET", "/api/v1/user/profile", token=token, expect=200)
    measure("GET profile, authorizer answer cached", "GET", "/api/v1/user/profile", token=token, expect=200)
    measure("PUT profile", "PUT", "/api/v1/user/profile", {"given_name": "Bench"}, token=token, expect=200)
    # The deletion check (functions/common/accounts.py): one consistent GetItem of the
    # profile's key on routes that do not read the profile anyway.
    measure("GET chat prompts (account check only)", "GET", "/api/v1/chat/prompts", token=token, expect=200)
    ticket = measure("POST upload (account check + presigned POST, signed locally)", "POST",
                     "/api/v1/process/upload", {"content_type": "application/pdf", "file_size": 100},
                     token=token, expect=201)
    measure("GET status while pending (account check + 3 HEADs)", "GET",
            f"/api/v1/process/status/{ticket['job_id']}", token=token, expect=200)
    measure("GET subscriptions (its profile read is the check)", "GET", "/api/v1/subscriptions", token=token,
            expect=200)

    # Authorizer warm latency, invoked as API Gateway would on a cache miss.
    token_event = {"type": "TOKEN", "authorizationToken": f"Bearer {token}",
                   "methodArn": "arn:aws:execute-api:eu-west-1:123456789012:local/local/GET/api/v1/user/profile"}
    stack.functions.invoke("authorizer", token_event)
    counter.take()
    timings = []
    for _ in range(WARM_CALLS):
        started = time.perf_counter()
        stack.functions.invoke("authorizer", token_event)
        timings.append((time.perf_counter() - started) * 1000)
    authorizer_calls = counter.take()
    from functions.common import tokens
    verify = []
    for _ in range(WARM_CALLS):
        started = time.perf_counter()
        tokens.verify(token)
        verify.append((time.perf_counter() - started) * 1000)

    counter.take()
    for i in range(500):
        call(base, "GET", "/api/v1/user/profile", token=token)
        call(base, "PUT", "/api/v1/user/profile", {"given_name": f"B{i}"}, token)
    kms_calls = sum(v for k, v in counter.take().items() if k.startswith("kms."))
    measure("DELETE profile", "DELETE", "/api/v1/user/profile", token=token, expect=204)
    measure("POST upload after DELETE, authorizer answer still cached", "POST", "/api/v1/process/upload",
            {"content_type": "application/pdf", "file_size": 100}, token=token, expect=401)
    measure("GET profile after DELETE, authorizer answer still cached", "GET", "/api/v1/user/profile",
            token=token, expect=401)
    lines += ["", f"### Authorizer, warm ({WARM_CALLS} invocations in-process)", "",
              "| measure | p50 ms | p99 ms |", "| --- | --- | --- |",
              f"| whole handler (verify + account check against moto) | {percentile(timings, 50):.2f} | "
              f"{percentile(timings, 99):.2f} |",
              f"| token verification alone (cached public key) | {percentile(verify, 50):.3f} | "
              f"{percentile(verify, 99):.3f} |",
              "", f"KMS calls per 1,000 profile requests (GET and PUT alternating, warm): {kms_calls} "
              "(the per-user data key stays cached for 5 minutes per container).",
              "", "The deletion check costs one strongly consistent DynamoDB GetItem (projected on PK, "
              "1 read capacity unit) per request on routes that do not read the profile anyway (upload, "
              "chat, status, result, cleanup, prompts), none on the profile, subscriptions and "
              "doctor-report routes (their own read answers it), and one per job in `process` before "
              "the outcome is written. No KMS call, no extra Lambda invocation; API Gateway's "
              "authorizer cache (5 minutes) stays on, so the authorizer's own read and invocation "
              "are still saved on cache hits.",
              "", "AWS calls over those invocations: " + ", ".join(
                  f"{k} x{v}" for k, v in sorted(authorizer_calls.items())) + " (no KMS call; S3 calls are the stream processor, running beside it).", ""]
    return "\n".join(lines)
