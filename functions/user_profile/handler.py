"""user_profile: the caller's own profile (GET, PUT, DELETE).

AWS calls: GET = 1 read + 1 batch read of the quota counters (+ KMS Decrypt of the
user's data key when not cached);
PUT = 1 read + 1 conditional update; DELETE = 1 read + 6 listings of the user's job
prefixes (+ deletes) + 1 query of its usage records (+ batch deletes) + 1 transaction
(+ 1 update first for an account without an analytics id, functions/common/users.py).
"""

from __future__ import annotations

from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response

from functions.common import jobs, lazy, quotas, users
from functions.common.api import api_handler
from functions.common.clock import now_iso
from functions.common.http import account_gone, caller_id, make_resolver, parse_body
from functions.common.oauth import clean_name
from functions.common.observability import logger

app = make_resolver()
lazy.preload("functions.user_profile.models", "cryptography.hazmat.primitives.ciphers.aead")
READ_ONLY = frozenset({"id", "email", "auth_provider", "subscription", "created_at", "updated_at"})


def _profile(user_id: str) -> dict:
    item = users.get(user_id)
    if item is None:  # the account was deleted: its tokens no longer work
        raise account_gone()
    return item


@app.get("/api/v1/user/profile")
def read():
    user_id = caller_id(app, check_account=False)
    item = _profile(user_id)
    # What is left of the model-backed work the plan allows (one more read: the counters).
    plan = quotas.plan_of(item.get("current_subscription"))
    holder = quotas.holder(item.get("GSI2PK", user_id))
    return {**users.to_user(item), "quota": quotas.status(holder, plan)}


@app.put("/api/v1/user/profile")
def change():
    from functions.user_profile.models import ProfileUpdate  # pydantic: loaded by the first PUT

    user_id = caller_id(app, check_account=False)
    update = parse_body(app, ProfileUpdate, read_only=READ_ONLY)
    item = _profile(user_id)
    now = now_iso()
    names = {f: clean_name(getattr(update, f)) for f in ("given_name", "family_name", "name")}
    names = {f: v for f, v in names.items() if v}
    changes, removals = users.seal_fields(item, names) if names else ({}, ())
    if update.consents:
        changes.update(
            {f"consents.{k}": {**c.model_dump(), "recorded_at": now} for k, c in update.consents.given().items()}
        )
    if update.device:
        changes["device"] = update.device.model_dump(exclude_none=True)
    if "biometric" in update.model_fields_set:
        if update.biometric is None:
            removals += ("biometric",)
        else:
            changes["biometric"] = update.biometric.model_dump(exclude_none=True)
    changes["updated_at"] = now
    updated = users.update(user_id, changes, removals)
    if updated is None:
        raise account_gone()
    return users.to_user(updated)


@app.delete("/api/v1/user/profile")
def delete():
    user_id = caller_id(app, check_account=False)
    item = _profile(user_id)
    files = jobs.delete_all_of(user_id)  # first, so a failure leaves an account to retry with
    users.delete(item)
    logger.info("account deleted", extra={"user_id": user_id, "job_files_deleted": files})
    return Response(status_code=HTTPStatus.NO_CONTENT, body="")


handler = api_handler(app)
