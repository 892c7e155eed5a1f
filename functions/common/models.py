"""Request models shared by several routes (pydantic, validated before any write)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Text = Field(min_length=1, max_length=100)


class Strict(BaseModel):
    # strict: 0 is not false and "1" is not 1 - the request means what the contract says;
    # numbers are finite, as JSON's are (RFC 8259, section 6)
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True, allow_inf_nan=False)


class Device(Strict):
    platform: Literal["ios", "android"]
    device_id: str = Field(min_length=1, max_length=128)
    app_version: str | None = Field(default=None, max_length=32)


class Consent(Strict):
    version: str = Field(min_length=1, max_length=32)
    accepted: bool


class Biometric(Strict):
    enabled: bool
    method: Literal["face", "fingerprint", "iris"] | None = None


class Consents(Strict):
    """The consents a user gives; each is optional in a request."""

    privacy_policy: Consent | None = None
    terms_of_service: Consent | None = None
    marketing: Consent | None = None
    research: Consent | None = None
    health_data_processing: Consent | None = None

    def given(self) -> dict[str, Consent]:
        return {name: getattr(self, name) for name in type(self).model_fields if getattr(self, name) is not None}
