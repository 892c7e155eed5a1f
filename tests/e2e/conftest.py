"""End-to-end fixtures: the real catalog on the local stack, spoken to over HTTP."""

import json
import urllib.error
import urllib.request

import pytest

from local.aws_calls import CallRecorder
from local.server import LocalStack
from tests.conftest import JOURNEY_CONFIG

DEVICE = {"platform": "ios", "device_id": "device-1", "app_version": "1.0.0"}
CONSENTS = {"privacy_policy": {"version": "2025-01", "accepted": True},
            "terms_of_service": {"version": "2025-01", "accepted": True}}


class Client:
    def __init__(self, base: str):
        self.base = base

    def call(self, method, path, body=None, token=None, raw: bytes = None, headers=None):
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self.base + path, method=method, data=data, headers={
            "Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {}),
            **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def id_token(self, provider, sub, **claims):
        status, body = self.call("POST", f"/local/idp/{provider}/token", {"sub": sub, **claims})
        assert status == 200
        return body["id_token"]

    def onboard(self, provider, sub, **extra):
        token = self.id_token(provider, sub, email=f"{sub}@example.com", name="Test Person")
        return self.call("POST", "/api/v1/auth/oauth-onboarding",
                         {"provider": provider, "id_token": token, "device": DEVICE, "consents": CONSENTS, **extra})


@pytest.fixture(scope="package")
def recorder():
    """Every AWS call the functions make during the end-to-end tests, with the function
    whose role makes it (tests/e2e/test_least_privilege.py evaluates them)."""
    return CallRecorder()


@pytest.fixture(scope="package")
def stack(recorder):
    # On the functions' default session before their first client exists, and on the
    # trigger stand-ins' clients before their first call.
    local = LocalStack(port=0, role_client_hook=recorder.attach, config=JOURNEY_CONFIG)
    recorder.install()
    try:
        local.start()
        yield local
    finally:
        local.stop()
        recorder.uninstall()


@pytest.fixture(scope="package")
def client(stack):
    return Client(stack.url)
