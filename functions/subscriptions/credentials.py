"""What the subscriptions function needs from the stack's third-party secret, in one place.

The secret (`{project}/{env}/third-party`, created empty by the Pulumi program and filled
by an operator) is a JSON object; the Play Developer API needs a Google service account
key under `google_play_service_account`. `problem()` says, without ever repeating the
secret's content, whether a secret string holds that: the function refuses to call
Google with anything less, and a preflight check can run the same test against a real
account before deploying. Standard library only, so tooling can import it cheaply.
"""

from __future__ import annotations

import json

PLAY_SERVICE_ACCOUNT = "google_play_service_account"
# The fields of a Google service account key file the JWT bearer grant reads
# (https://developers.google.com/identity/protocols/oauth2/service-account#jwt-auth).
SERVICE_ACCOUNT_FIELDS = ("client_email", "private_key", "token_uri")
EXPECTED_KEYS: tuple[str, ...] = tuple(f"{PLAY_SERVICE_ACCOUNT}.{f}" for f in SERVICE_ACCOUNT_FIELDS)


def problem(secret_string: str | None) -> str | None:
    """None when the secret's string holds every expected key as a non-empty string, else a
    reason code: secret_not_json, secret_missing_keys. Never the content."""
    if secret_string is None:
        return "secret_not_string"
    try:
        document = json.loads(secret_string)
    except ValueError:
        return "secret_not_json"
    return None if not missing_keys(document) else "secret_missing_keys"


def missing_keys(document: object) -> list[str]:
    """The EXPECTED_KEYS a parsed secret lacks (absent, empty or not a string)."""
    missing = []
    for path in EXPECTED_KEYS:
        node = document
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, str) or not node.strip():
            missing.append(path)
    return missing


def holds_what_subscriptions_needs(secret_string: str | None) -> bool:
    return problem(secret_string) is None


def service_account(secret_string: str) -> dict:
    """The service account of a secret string for which problem() is None."""
    return json.loads(secret_string)[PLAY_SERVICE_ACCOUNT]
