from __future__ import annotations

from typing import Optional

from pydantic import Field

from functions.common.models import Biometric, Consents, Device, Strict

Name = Field(default=None, min_length=1, max_length=100)


class ProfileUpdate(Strict):
    given_name: Optional[str] = Name
    family_name: Optional[str] = Name
    name: Optional[str] = Name
    consents: Optional[Consents] = None
    device: Optional[Device] = None
    biometric: Optional[Biometric] = None  # null removes it
