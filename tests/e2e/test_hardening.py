"""Issue 12 end to end on the local stack: a deleted account's tokens stop at once on
every route; bodies and tokens that cannot be parsed safely are 4xx on every JSON route,
never 5xx; wrong media types are 415; oversized headers answer in the contract's format;
the Bearer scheme in any case; no token of any kind in any log."""

import base64
import io
import json
import logging
import socket
import sys
import time
from urllib.parse import quote

import boto3
import pytest
import requests

from components.openapi import BODY_METHODS
from functions.catalog import CATALOG
from tests.e2e.conftest import CONSENTS, DEVICE
from tests.fixtures.lab_reports import TABLE

JSON_ROUTES = [(r.method, r.path, r.authorized) for f in CATALOG for r in f.routes if r.method in BODY_METHODS]
AUTHORIZED_ROUTES = [(r.method, r.path) for f in CATALOG for r in f.routes if r.authorized]
DEEP = b"[" * 1000 + b"]" * 1000                          # 2 KB, 1,000 deep: RecursionError in json
DEEP_IN_OBJECT = b'{"message": ' + DEEP + b"}"
LONG_NUMBER = b'{"message": ' + b"9" * 5000 + b"}"       # ValueError: over Python's 4,300 digits
UNSAFE_BODIES = {"deep": DEEP, "deep_in_object": DEEP_IN_OBJECT, "long_number": LONG_NUMBER,
                 "101_digits": b'{"file_size": ' + b"1" * 101 + b"}", "65_deep": b'{"a":' + b"[" * 64 + b"]" * 64 + b"}",
                 # RFC 8259, section 6: not JSON numbers, though Python's parser reads them
                 "nan": b'{"file_size": NaN}', "infinity": b'{"a": [Infinity]}', "-infinity": b'{"a": {"b": -Infinity}}',
                 "1e400": b'{"file_size": 1e400}'}
SAFE_BODIES = {"64_deep": b'{"a":' + b"[" * 63 + b"]" * 63 + b"}", "100_digits": b'{"file_size": ' + b"1" * 100 + b"}"}


def concrete(path: str, user_id: str) -> str:
    return path.replace("{job_id}", f"result_{user_id}_{int(time.time() * 1000)}_{'a' * 16}")


def raw(stack, method, path, body: bytes, headers: dict):
    answer = requests.request(method, stack.url + path, data=body, headers=headers, timeout=15)
    return answer.status_code, answer.json() if answer.content else None


@pytest.fixture(scope="module")
def user(client):
    status, body = client.onboard("google", "hardening-user")
    assert status == 201
    return body["user"]["id"], body["access_token"]


@pytest.mark.parametrize("method, path, authorized", JSON_ROUTES, ids=[f"{m} {p}" for m, p, _ in JSON_ROUTES])
@pytest.mark.parametrize("kind", sorted(UNSAFE_BODIES))
def test_bodies_that_cannot_be_parsed_safely_are_400_invalid_json(stack, user, method, path, authorized, kind):
    user_id, token = user
    for auth in ([token] if authorized else [None]):
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {auth}"} if auth else {})}
        status, body = raw(stack, method, concrete(path, user_id), UNSAFE_BODIES[kind], headers)
        assert (status, body["error"]["code"]) == (400, "invalid_json"), (kind, status, body)


@pytest.mark.parametrize("method, path, authorized", JSON_ROUTES, ids=[f"{m} {p}" for m, p, _ in JSON_ROUTES])
def test_bodies_at_the_limits_are_parsed(stack, user, method, path, authorized):
    user_id, token = user
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if authorized else {})}
    for kind, body in SAFE_BODIES.items():
        status, answer = raw(stack, method, concrete(path, user_id), body, headers)
        assert status < 500 and answer["error"]["code"] != "invalid_json", (kind, status, answer)


@pytest.mark.parametrize("method, path, authorized", JSON_ROUTES, ids=[f"{m} {p}" for m, p, _ in JSON_ROUTES])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "",
                                          "application/json; charset=latin-1", "application/jsonx"])
def test_a_body_that_is_not_declared_json_is_415(stack, user, method, path, authorized, content_type):
    user_id, token = user
    headers = {"Content-Type": content_type, **({"Authorization": f"Bearer {token}"} if authorized else {})}
    status, body = raw(stack, method, concrete(path, user_id), b"{}", headers)
    assert (status, body["error"]["code"]) == (415, "unsupported_media_type"), (content_type, status, body)


def test_json_with_a_charset_is_accepted(stack, user):
    user_id, token = user
    for content_type in ("application/json; charset=utf-8", "Application/JSON;charset=UTF-8"):
        status, body = raw(stack, "POST", "/api/v1/process/upload", json.dumps(
            {"content_type": "application/pdf", "file_size": 10}).encode(),
            {"Content-Type": content_type, "Authorization": f"Bearer {token}"})
        assert status == 201, (content_type, body)


def bomb_jws() -> str:
    """A compact JWS whose header nests 1,000 deep: PyJWT parses headers before signatures."""
    header = base64.urlsafe_b64encode(b'{"alg":' + DEEP + b"}").rstrip(b"=").decode()
    return f"{header}.{base64.urlsafe_b64encode(b'{}').rstrip(b'=').decode()}.c2ln"


def test_tokens_that_cannot_be_parsed_safely_are_refused_not_500(client, stack):
    bomb = bomb_jws()
    status, body = client.call("POST", "/api/v1/auth/oauth-onboarding", {
        "provider": "google", "id_token": bomb, "device": DEVICE, "consents": CONSENTS})
    assert (status, body["error"]["code"]) == (401, "invalid_token")
    status, body = client.call("POST", "/api/v1/auth/oauth-signin", {"provider": "apple", "id_token": bomb, "device": DEVICE})
    assert (status, body["error"]["code"]) == (401, "invalid_token")
    assert client.call("GET", "/api/v1/user/profile", token=bomb)[0] == 401
    status, body = client.call("POST", "/api/v1/subscriptions/webhook", {"signedPayload": bomb})
    assert (status, body["error"]["code"]) == (400, "invalid_notification")
    status, body = client.call("POST", "/api/v1/subscriptions/webhook", {"message": {"messageId": "1", "data": ""}},
                               headers={"Authorization": f"Bearer {bomb}"})
    assert (status, body["error"]["code"]) == (401, "invalid_signature")


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_the_bearer_scheme_in_any_case(client, user, scheme):
    status, body = client.call("GET", "/api/v1/user/profile", headers={"Authorization": f"{scheme} {user[1]}"})
    assert status == 200 and body["id"] == user[0]


def test_a_deleted_accounts_token_stops_at_once_on_every_route(client, stack):
    status, body = client.onboard("google", "deleted-soon")
    user_id, token = body["user"]["id"], body["access_token"]
    assert client.call("GET", "/api/v1/chat/prompts", token=token)[0] == 200  # the gateway now caches the answer
    ticket = client.call("POST", "/api/v1/process/upload", {"content_type": "application/pdf",
                                                            "file_size": len(TABLE.pdf())}, token=token)[1]
    assert client.call("DELETE", "/api/v1/user/profile", token=token)[0] == 204
    assert f"Bearer {token}" in stack.gateway._cache  # the authorizer's cached answer still allows the token

    bodies = {"/api/v1/process/upload": {"content_type": "application/pdf", "file_size": 10},
              "/api/v1/chat/messages": {"message": "hi"}, "/api/v1/user/profile": {"given_name": "X"},
              "/api/v1/process/doctor-report": {"results": [{"date": "2026-01-10", "result": {
                  "document_type": "other", "summary": "s", "confidence": 0.5, "model": "m", "disclaimer": "d",
                  "processed_at": "2026-01-10T00:00:00Z", "observations": []}}]}}
    refused = 0
    for method, path in AUTHORIZED_ROUTES:
        status, answer = client.call(method, concrete(path, user_id), bodies.get(path), token=token)
        assert (status, answer["error"]["code"]) == (401, "unauthorized"), (method, path, status, answer)
        refused += 1
    assert refused == len(AUTHORIZED_ROUTES) >= 12

    # An upload ticket issued before DELETE still lands in S3: process creates nothing for it.
    assert requests.post(ticket["upload"]["url"], data=ticket["upload"]["fields"],
                         files={"file": ("r.pdf", TABLE.pdf(), "application/pdf")}, timeout=10).status_code == 204
    s3 = boto3.client("s3", endpoint_url=stack.aws_endpoint_url, region_name="eu-west-1",
                      aws_access_key_id="local", aws_secret_access_key="local")
    bucket, job = stack.program.outputs["temp_bucket"], ticket["job_id"]
    deadline = time.monotonic() + 10
    while "Contents" in s3.list_objects_v2(Bucket=bucket, Prefix=f"incoming/{job}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=f"incoming/{job}")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=f"outgoing/{job}")


def send_raw(stack, request: bytes) -> tuple[int, dict]:
    with socket.create_connection((stack.host, stack.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    assert b"content-type: application/json" in head.lower(), head
    return status, json.loads(body)


@pytest.mark.parametrize("request_bytes", [
    b"GET /api/v1/chat/prompts HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
    b"GET /api/v1/chat/prompts HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(120)) + b"\r\n",
], ids=["header-line-over-64KiB", "over-100-headers"])
def test_headers_too_large_for_the_server_answer_in_the_contract_format(stack, request_bytes):
    status, body = send_raw(stack, request_bytes)
    assert (status, body["error"]["code"]) == (413, "payload_too_large")


@pytest.mark.parametrize("length, code, status", [("abc", "bad_request", 400), ("-1", "bad_request", 400),
                                                  ("999999999999", "payload_too_large", 413)])
def test_a_content_length_the_server_cannot_honour_is_refused_at_once(stack, length, code, status):
    """Not a dropped connection (abc), a read until the client gives up (-1) or a read of
    gigabytes into memory (review of issue 26)."""
    request = (b"POST /api/v1/chat/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: " + length.encode() + b"\r\n\r\n{}")
    assert send_raw(stack, request)[0] == status
    assert send_raw(stack, request)[1]["error"]["code"] == code


def test_a_chunked_body_is_read_as_the_app_streams_it(stack, client, user):
    """URLSession with a body stream and OkHttp with a body of unknown length send chunked
    bodies: read whole, not taken as empty (a 400 invalid_json) with the rest parsed as the
    next request (review of issue 26)."""
    body = json.dumps({"given_name": "Chunked"}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:5], body[5:])) + b"0\r\n\r\n"
    request = (b"PUT /api/v1/user/profile HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               b"Authorization: Bearer " + user[1].encode() + b"\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" + chunks)
    status, answer = send_raw(stack, request)
    assert status == 200 and answer["given_name"] == "Chunked", answer
    bad = (b"PUT /api/v1/user/profile HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    assert send_raw(stack, bad)[1]["error"]["code"] == "bad_request"


def test_headers_over_api_gateways_limit_are_413(client, user):
    status, body = client.call("GET", "/api/v1/user/profile", token=user[1], headers={"X-Padding": "p" * 11_000})
    assert (status, body["error"]["code"]) == (413, "payload_too_large")


def test_no_token_of_any_kind_in_any_log(client, stack):
    """Access tokens, ID tokens, Play purchase tokens, Pub/Sub OIDC tokens and job ids in
    paths: none reaches the access log, the functions' logs or stdout."""
    from functions.common.observability import logger

    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logger.registered_formatter)
    access = logging.getLogger("local.access")
    saved_level = access.level
    access.setLevel(logging.INFO)
    access.addHandler(handler)
    logger.addHandler(handler)
    real_stdout, sys.stdout = sys.stdout, io.StringIO()
    try:
        id_token = client.id_token("google", "log-watch", email="log-watch@example.com")
        body = client.call("POST", "/api/v1/auth/oauth-onboarding", {
            "provider": "google", "id_token": id_token, "device": DEVICE, "consents": CONSENTS})[1]
        token, user_id = body["access_token"], body["user"]["id"]
        ticket = client.call("POST", "/api/v1/process/upload", {"content_type": "application/pdf",
                                                                "file_size": 10}, token=token)[1]
        client.call("GET", f"/api/v1/process/status/{ticket['job_id']}", token=token)
        client.call("GET", "/api/v1/user/profile", token=token + "x")  # a refused token is not logged either
        assert client.call("POST", "/local/store/google/notify", {"user_id": user_id, "notification_type": 4})[0] == 200
        client.call("POST", "/local/store/apple/notify", {"user_id": user_id, "notification_type": "SUBSCRIBED"})
        emitted = sink.getvalue() + sys.stdout.getvalue()
    finally:
        sys.stdout = real_stdout
        logger.removeHandler(handler)
        access.removeHandler(handler)
        access.setLevel(saved_level)
    purchase_tokens = [t for t in stack.store._purchases if user_id in json.dumps(stack.store._purchases[t])]
    assert purchase_tokens and "/local/play/androidpublisher/{redacted}" in emitted  # the Play API was called
    assert "/api/v1/process/status/{job_id}" in emitted and "notification processed" in emitted
    for secret in [token, token.split(".")[2], id_token, id_token.split(".")[2], ticket["job_id"], *purchase_tokens]:
        assert secret not in emitted, secret[:12]


def test_an_unverified_email_gets_no_account(client, stack):
    from tests.e2e.test_identity import table_items

    id_token = client.id_token("google", "unverified-1", email="unverified@example.com", email_verified=False)
    status, body = client.call("POST", "/api/v1/auth/oauth-onboarding", {
        "provider": "google", "id_token": id_token, "device": DEVICE, "consents": CONSENTS})
    assert (status, body["error"]["code"]) == (403, "email_not_verified")
    assert not [i for i in table_items(stack) if "unverified-1" in repr(i)]


def test_a_token_nonce_needs_the_requests_nonce(client):
    id_token = client.id_token("google", "nonce-1", email="nonce-1@example.com", nonce="n-1")
    request = {"provider": "google", "id_token": id_token, "device": DEVICE, "consents": CONSENTS}
    status, body = client.call("POST", "/api/v1/auth/oauth-onboarding", request)
    assert (status, body["error"]["code"]) == (401, "invalid_token")
    assert client.call("POST", "/api/v1/auth/oauth-onboarding", {**request, "nonce": "n-1"})[0] == 201


def test_names_from_the_token_and_the_request_are_cleaned_and_capped(client):
    id_token = client.id_token("google", "names-1", email="names-1@example.com", name="Mallory\u202egnp.exe" + "m" * 300)
    status, body = client.call("POST", "/api/v1/auth/oauth-onboarding", {
        "provider": "google", "id_token": id_token, "device": DEVICE, "consents": CONSENTS,
        "given_name": "\u2066Ana\u2069\x00" + "a" * 500, "family_name": "Lima\u200f"})
    assert status == 201, body
    user = body["user"]
    assert user["given_name"] == "Ana" + "a" * 97 and user["family_name"] == "Lima"
    assert user["name"] == ("Mallorygnp.exe" + "m" * 300)[:100]



def test_other_spellings_of_a_valid_token_get_the_answer_of_any_invalid_token(client, user):
    """Issue 24, item 6: padded, re-encoded and high-S variants each used to be a new
    authorizer cache key; every one is now refused exactly like a garbage token."""
    from tests.functions.test_tokens import spellings

    token = user[1]
    assert client.call("GET", "/api/v1/user/profile", token=token)[0] == 200
    status, garbage = client.call("GET", "/api/v1/user/profile", token="not-a-jwt")
    for variant, other in spellings(token).items():
        if any(c in other for c in " \n"):
            continue  # not a header value a client sends as one token
        status, body = client.call("GET", "/api/v1/user/profile", token=other)
        assert status == 401 and {**body["error"], "request_id": ""} == {**garbage["error"], "request_id": ""}, variant


def test_a_job_id_with_non_ascii_digits_is_not_found_like_any_malformed_id(client, user):
    user_id, token = user
    ms = str(int(time.time() * 1000))
    answers = set()
    for digits in (ms, ms.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
                   ms.translate(str.maketrans("0123456789", "０１２３４５６７８９"))):
        job_id = f"result_{user_id}_{digits}_{'b' * 16}"
        status, body = client.call("GET", f"/api/v1/process/status/{quote(job_id)}", token=token)
        answers.add((status, body["error"]["code"]) if status >= 400 else (status, body["status"]))
    # The ASCII id is a pending upload; its Unicode-digit spellings are no job at all.
    assert answers == {(200, "pending"), (404, "job_not_found")}


def test_invisible_characters_leave_names_and_joiners_stay_between_letters(client):
    id_token = client.id_token("google", "names-cf", email="names-cf@example.com", name="Ana\u200b\u00adLima\U000e0041")
    status, body = client.call("POST", "/api/v1/auth/oauth-onboarding", {
        "provider": "google", "id_token": id_token, "device": DEVICE, "consents": CONSENTS,
        "given_name": "\u2060\ufeffSo\u200bfia\u200d", "family_name": "\u0645\u06cc\u200c\u062e"})
    assert status == 201, body
    user = body["user"]
    assert (user["name"], user["given_name"], user["family_name"]) == ("AnaLima", "Sofia", "\u0645\u06cc\u200c\u062e")
