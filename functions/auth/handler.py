"""auth: onboarding and sign-in with a Google or Apple ID token.

AWS calls per request: onboarding a new user = identity lookup + KMS GenerateDataKey +
KMS Sign + one transaction; sign-in = identity lookup + KMS Sign + one update (+ KMS
Decrypt of the user's data key when it is not cached in this container).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING

from functions.common import lazy, tokens, users
from functions.common.api import api_handler
from functions.common.clock import now_iso
from functions.common.http import ApiError, make_resolver, parse_body
from functions.common.oauth import Identity, IdentityError, clean_name, verify_id_token
from functions.common.observability import count, logger

if TYPE_CHECKING:
    from functions.auth.models import OnboardingRequest, SignInRequest

app = make_resolver()
# Each request loads what it needs on first use (its pydantic model, PyJWT for the ID token,
# cryptography for the KMS signature); a provisioned container loads them at init.
lazy.preload(
    "functions.auth.models",
    "jwt",
    "cryptography.hazmat.primitives.asymmetric.utils",
    "cryptography.hazmat.primitives.ciphers.aead",
)


def _failure(provider: str, reason: str) -> None:
    count("SignInFailures", provider=provider, reason=reason)
    logger.info("sign-in refused", extra={"provider": provider, "reason": reason})


def _success(provider: str, flow: str) -> None:
    count("SignIns", provider=provider, flow=flow)


def _verify(request: SignInRequest) -> Identity:
    try:
        return verify_id_token(request.provider, request.id_token, request.nonce)
    except IdentityError as e:
        _failure(request.provider, e.reason)
        if e.reason == "jwks_unavailable":
            raise ApiError(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "identity_provider_unavailable",
                "the identity provider could not be reached; try again",
            ) from None
        raise ApiError(HTTPStatus.UNAUTHORIZED, "invalid_token", "the ID token could not be verified") from None


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _session(token: tokens.IssuedToken, session_id: str, device_id: str) -> dict:
    return {
        "id": session_id,
        "issued_at": _iso(token.issued_at),
        "expires_at": _iso(token.expires_at),
        "device_id": device_id,
    }


def _signed_in(token: tokens.IssuedToken, item: dict) -> dict:
    return {
        "access_token": token.token,
        "token_type": "Bearer",
        "expires_in": token.expires_in,
        "user": users.to_user(item),
    }


def _sign_in(user_id: str, request: SignInRequest, flow: str, consents: dict) -> dict:
    session_id = str(uuid.uuid4())
    token = tokens.issue(user_id, session_id)
    now = now_iso()
    changes = {
        "session": _session(token, session_id, request.device.device_id),
        "device": request.device.model_dump(exclude_none=True),
        "last_sign_in_at": now,
        "updated_at": now,
    }
    changes.update({f"consents.{name}": consent for name, consent in consents.items()})
    item = users.update(user_id, changes)
    if item is None:  # deleted between lookup and update
        _failure(request.provider, "user_not_found")
        raise ApiError(HTTPStatus.NOT_FOUND, "user_not_found", "no account exists for this identity")
    _success(request.provider, flow)
    return _signed_in(token, item)


def _recorded(request: OnboardingRequest) -> dict:
    now = now_iso()
    return {name: {**c.model_dump(), "recorded_at": now} for name, c in request.consents.given().items()}


@app.post("/api/v1/auth/oauth-onboarding")
def onboarding():
    from functions.auth.models import OnboardingRequest

    request = parse_body(app, OnboardingRequest)
    missing = [
        c
        for c in users.REQUIRED_CONSENTS
        if c not in request.consents.given() or not request.consents.given()[c].accepted
    ]
    if missing:
        raise ApiError(
            HTTPStatus.BAD_REQUEST, "consent_required", f"these consents must be accepted: {', '.join(missing)}"
        )
    identity = _verify(request)
    if identity.email and not identity.email_verified:
        # An address the provider has not verified may belong to someone else: no account.
        _failure(request.provider, "email_not_verified")
        raise ApiError(
            HTTPStatus.FORBIDDEN, "email_not_verified", "the identity provider has not verified this email address"
        )
    consents = _recorded(request)
    user_id = users.user_id_for(identity.provider, identity.subject)
    if user_id is None:
        user_id, session_id = str(uuid.uuid4()), str(uuid.uuid4())
        token = tokens.issue(user_id, session_id)
        account = users.new_account(
            identity,
            clean_name(request.given_name),
            clean_name(request.family_name),
            consents,
            request.device.model_dump(exclude_none=True),
            _session(token, session_id, request.device.device_id),
            now_iso(),
            user_id=user_id,
        )
        try:
            users.create(account, identity)
            # A registration, not a sign-in (the glossary's): the lake's signed_in events and
            # the dashboard's SignIns count only sessions on accounts that already existed.
            count("Registrations", provider=identity.provider)
            logger.info("account created", extra={"user_id": user_id})
            return _signed_in(token, account.item), HTTPStatus.CREATED
        except users.AccountExists:  # a concurrent onboarding won: sign in to its account
            user_id = _winner(identity)
    return _sign_in(user_id, request, "onboarding", consents)


def _winner(identity: Identity) -> str:
    """The account a concurrent onboarding created. Its transaction may not have committed
    yet: DynamoDB cancels a transaction that conflicts with another in flight on the same
    item (TransactionConflict), so the loser can get here before the winner's items are
    readable, and retries for a moment.
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-conflict-handling"""
    for attempt in range(4):
        user_id = users.user_id_for(identity.provider, identity.subject)
        if user_id and users.exists(user_id):
            return user_id
        time.sleep(0.05 * (attempt + 1))
    raise ApiError(
        HTTPStatus.CONFLICT, "onboarding_conflict", "another sign-up for this account is in progress; try again"
    )


@app.post("/api/v1/auth/oauth-signin")
def sign_in():
    from functions.auth.models import SignInRequest

    request = parse_body(app, SignInRequest)
    identity = _verify(request)
    user_id = users.user_id_for(identity.provider, identity.subject)
    if user_id is None:
        _failure(request.provider, "user_not_found")
        raise ApiError(HTTPStatus.NOT_FOUND, "user_not_found", "no account exists for this identity")
    return _sign_in(user_id, request, "signin", {})


handler = api_handler(app)
