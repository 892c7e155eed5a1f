from __future__ import annotations

from pydantic import Field

from functions.common.models import Biometric, Consents, Device, Strict

Name = Field(default=None, min_length=1, max_length=100)


class ProfileUpdate(Strict):
    given_name: str | None = Name
    family_name: str | None = Name
    name: str | None = Name
    consents: Consents | None = None
    device: Device | None = None
    biometric: Biometric | None = None  # null removes it
