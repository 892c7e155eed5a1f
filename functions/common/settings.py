"""The function's settings, from the environment the Pulumi program gave it.

Read once per container on first use. A function only receives the variables of the
resources its catalog entry touches; asking for another one is a programming error
and fails loudly with the variable's name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


class MissingSetting(RuntimeError):
    pass


@dataclass(frozen=True)
class RuntimeSettings:
    env: str
    table_name: str | None
    temp_bucket: str | None
    events_bucket: str | None
    data_key_arn: str | None  # the storage key (SSE-KMS of the objects a function writes)
    pii_key_arn: str | None  # wraps the per-user data keys only
    email_mac_key_arn: str | None  # HMAC_256: the email lookup hash
    signing_key_arn: str | None
    # The canary's own signing key: tokens for the canary account only (functions/common/canary.py)
    canary_signing_key_arn: str | None
    secret_arn: str | None
    bedrock_model_id: str | None
    allowed_origins: tuple[str, ...]
    # serenya:newJobsPaused, given only to the functions that start model work
    jobs_paused: bool = False

    def require(self, field: str) -> str:
        value = getattr(self, field)
        if not value:
            raise MissingSetting(
                f"{field} is not configured for this function (does its catalog entry declare the access?)"
            )
        return value


@lru_cache(maxsize=1)
def settings() -> RuntimeSettings:
    env = os.environ
    return RuntimeSettings(
        env=env.get("SERENYA_ENV", "local"),
        table_name=env.get("TABLE_NAME"),
        temp_bucket=env.get("TEMP_BUCKET"),
        events_bucket=env.get("EVENTS_BUCKET"),
        data_key_arn=env.get("DATA_KEY_ARN"),
        pii_key_arn=env.get("PII_KEY_ARN"),
        email_mac_key_arn=env.get("EMAIL_MAC_KEY_ARN"),
        signing_key_arn=env.get("SIGNING_KEY_ARN"),
        canary_signing_key_arn=env.get("CANARY_SIGNING_KEY_ARN"),
        secret_arn=env.get("SECRET_ARN"),
        bedrock_model_id=env.get("BEDROCK_MODEL_ID"),
        allowed_origins=tuple(o for o in env.get("ALLOWED_ORIGINS", "").split(",") if o),
        jobs_paused=env.get("NEW_JOBS_PAUSED", "false") == "true",
    )
