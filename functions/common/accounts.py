"""Whether an account still exists: the check every authorized route makes.

API Gateway caches the authorizer's answer per token for AUTHORIZER_CACHE_SECONDS, so
the authorizer alone cannot stop a deleted account's token at once. Every authorized
route therefore reads the profile's key (one strongly consistent GetItem projected on
PK, which DELETE removes in the same transaction as the identity) before it does
anything; routes that read the profile anyway (user profile, subscriptions, doctor
report) use that read instead. The process function checks it too before it writes an
outcome, so an upload that lands after DELETE creates nothing.

The roles that only check (catalog TableAccess.CHECK_ACCOUNT) may read nothing but
the PK attribute of USER# items (components/iam.py).
"""

from __future__ import annotations

from functions.common import aws
from functions.common.settings import settings

PROFILE_SK = "PROFILE"
CHECKED_ATTRIBUTE = "PK"
ANALYTICS_ID = "analytics_id"  # what a usage record carries to the lake instead of the user id


def profile_key(user_id: str) -> dict[str, str]:
    return {"PK": f"USER#{user_id}", "SK": PROFILE_SK}


def exists(user_id: str) -> bool:
    """One strongly consistent read: a deletion is seen by the next request."""
    return "Item" in aws.table(settings().require("table_name")).get_item(
        Key=profile_key(user_id), ConsistentRead=True, ProjectionExpression=CHECKED_ATTRIBUTE
    )


def analytics_id(user_id: str) -> str | None:
    """The account's analytics id (functions/common/users.py), "" for an account made before
    them and not written since, None when the account is gone: the same strongly consistent
    read as `exists`, with one more attribute (the process role may read it)."""
    item = (
        aws.table(settings().require("table_name"))
        .get_item(
            Key=profile_key(user_id), ConsistentRead=True, ProjectionExpression=f"{CHECKED_ATTRIBUTE}, {ANALYTICS_ID}"
        )
        .get("Item")
    )
    return None if item is None else str(item.get(ANALYTICS_ID, ""))
