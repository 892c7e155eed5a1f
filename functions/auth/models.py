from __future__ import annotations

from typing import Literal

from pydantic import Field

from functions.common.models import Consents, Device, Strict

Provider = Literal["google", "apple"]
IdToken = Field(min_length=20, max_length=8192)


class SignInRequest(Strict):
    provider: Provider
    id_token: str = IdToken
    nonce: str | None = Field(default=None, min_length=1, max_length=256)
    device: Device


class OnboardingRequest(SignInRequest):
    # Trimmed to 100 characters without control or format characters (oauth.clean_name);
    # longer input is bounded, not refused, and a name of only spaces is no name (Apple
    # sends what the person typed: a sign-up must not fail on it).
    given_name: str | None = Field(default=None, max_length=1000)
    family_name: str | None = Field(default=None, max_length=1000)
    consents: Consents = Field(default_factory=Consents)
