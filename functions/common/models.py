"""Request models shared by several routes (pydantic, validated before any write)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

Text = Field(min_length=1, max_length=100)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Device(Strict):
    platform: Literal["ios", "android"]
    device_id: str = Field(min_length=1, max_length=128)
    app_version: Optional[str] = Field(default=None, max_length=32)


class Consent(Strict):
    version: str = Field(min_length=1, max_length=32)
    accepted: bool


class Biometric(Strict):
    enabled: bool
    method: Optional[Literal["face", "fingerprint", "iris"]] = None


Consents = dict[Literal["privacy_policy", "terms_of_service", "marketing", "research", "health_data_processing"],
                Consent]
