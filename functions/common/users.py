"""User accounts in the single table.

    PK USER#{id}                    SK PROFILE    the profile (PII sealed per field)
    PK EXTERNAL#{provider}#{sub}    SK IDENTITY   which user an external identity belongs to

The profile's `analytics_id` is a random id, the only one the audit lake knows a person
by (analytics/): deleting the profile deletes the link between the two. An account made
before it existed gets one at its next profile write (`update`: every sign-in makes one;
a store notification too, functions/subscriptions/state.py), never derived from the user
id, so nothing but the profile links them.

The identity item makes an external identity unique: onboarding writes it and the
profile in one transaction, each conditional on not existing, so two concurrent
onboardings of one person cannot create two accounts. The profile also carries
GSI1 (hash of the normalised email) and GSI2 (the external id) for lookups.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Key
from boto3.dynamodb.types import Binary, TypeSerializer
from botocore.exceptions import ClientError

from functions.common import accounts, aws, crypto, usage
from functions.common.oauth import clean_name
from functions.common.settings import settings

if TYPE_CHECKING:  # annotations only: oauth's JWT code is not loaded by profile routes
    from functions.common.oauth import Identity

PII_FIELDS = ("email", "name", "given_name", "family_name")
REQUIRED_CONSENTS = ("privacy_policy", "terms_of_service")
FREE_PLAN = {"type": "free", "status": "active"}
# The subscription statuses that entitle to premium features (and premium quotas).
PREMIUM_STATUSES = ("active", "grace_period")
_serialize = TypeSerializer().serialize


class AccountExists(Exception):
    """Another onboarding created (or is creating) the account for this identity."""


def profile_key(user_id: str) -> dict[str, str]:
    return accounts.profile_key(user_id)


def identity_key(provider: str, subject: str) -> dict[str, str]:
    return {"PK": f"EXTERNAL#{provider}#{subject}", "SK": "IDENTITY"}


# The email lookup hash is an HMAC under a KMS key (HMAC_256): without the key it says
# nothing, so a copy of the table cannot be matched against a list of emails. One
# GenerateMac call per hash; nothing is cached (a cache would keep emails in memory).
# https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateMac.html
EMAIL_MAC_KEY_SPEC = "HMAC_256"
EMAIL_MAC_ALGORITHM = "HMAC_SHA_256"  # the one algorithm an HMAC_256 key supports


def email_hash(email: str) -> str:
    mac = aws.client("kms").generate_mac(
        KeyId=settings().require("email_mac_key_arn"),
        MacAlgorithm=EMAIL_MAC_ALGORITHM,
        Message=email.strip().lower().encode(),
    )["Mac"]
    return bytes(mac).hex()


def table():
    return aws.table(settings().require("table_name"))


@dataclass(frozen=True)
class NewAccount:
    user_id: str
    item: dict[str, Any]


def new_account(
    identity: Identity,
    given_name: str | None,
    family_name: str | None,
    consents: dict[str, dict],
    device: dict,
    session: dict,
    now: str,
    user_id: str | None = None,
) -> NewAccount:
    """The profile item of a new user, PII sealed under a fresh data key."""
    user_id = user_id or str(uuid.uuid4())
    key, encrypted_key = crypto.new_data_key(user_id)
    given = given_name or identity.given_name
    family = family_name or identity.family_name
    plain = {
        "email": identity.email,
        "given_name": given,
        "family_name": family,
        # Each part is at most 100 characters (oauth.clean_name); so is their composition.
        "name": identity.name or clean_name(" ".join(p for p in (given, family) if p)),
    }
    item: dict[str, Any] = {
        **profile_key(user_id),
        "GSI2PK": f"EXTERNAL#{identity.provider}#{identity.subject}",
        "GSI2SK": "PROFILE",
        "user_id": user_id,
        "analytics_id": str(uuid.uuid4()),
        "auth_provider": identity.provider,
        "data_key": Binary(encrypted_key),
        "email_verified": identity.email_verified,
        "consents": consents,
        "current_subscription": dict(FREE_PLAN),
        "device": device,
        "session": session,
        "created_at": now,
        "updated_at": now,
    }
    if identity.email and len(identity.email.encode()) <= 320:  # RFC 5321's limit; GenerateMac takes 4,096 bytes
        item.update(GSI1PK=f"EMAIL#{email_hash(identity.email)}", GSI1SK="PROFILE")
    for field, value in plain.items():
        if value:
            item[f"{field}_enc"] = Binary(crypto.seal(key, user_id, field, value))
    return NewAccount(user_id, item)


def create(account: NewAccount, identity: Identity) -> None:
    """Writes identity and profile together; AccountExists if the identity is taken."""
    name = settings().require("table_name")
    identity_item = {**identity_key(identity.provider, identity.subject), "user_id": account.user_id}
    try:
        aws.client("dynamodb").transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": name,
                        "Item": _typed(identity_item),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
                {
                    "Put": {
                        "TableName": name,
                        "Item": _typed(account.item),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            ]
        )
    except ClientError as e:
        reasons = {r.get("Code") for r in e.response.get("CancellationReasons", [])}
        if reasons & {"ConditionalCheckFailed", "TransactionConflict"}:
            raise AccountExists() from None
        raise


def _typed(item: dict) -> dict:
    return {k: _serialize(v) for k, v in item.items()}


def user_id_for(provider: str, subject: str) -> str | None:
    item = table().get_item(Key=identity_key(provider, subject), ConsistentRead=True).get("Item")
    return item["user_id"] if item else None


def get(user_id: str) -> dict | None:
    return table().get_item(Key=profile_key(user_id), ConsistentRead=True).get("Item")


def exists(user_id: str) -> bool:
    return accounts.exists(user_id)


def plan(user_id: str) -> dict | None:
    """The user's subscription (None when the account is gone): one projected read."""
    found = plan_and_identity(user_id)
    return None if found is None else found[0]


def plan_and_identity(user_id: str) -> tuple[dict, str] | None:
    """The user's subscription and external identity (GSI2PK: the provider's subject), or
    None when the account is gone: one projected read. Quotas are the identity's, so that
    deleting the account and onboarding again does not start them afresh."""
    item = (
        table()
        .get_item(Key=profile_key(user_id), ConsistentRead=True, ProjectionExpression="current_subscription, GSI2PK")
        .get("Item")
    )
    if item is None:
        return None
    return item.get("current_subscription", dict(FREE_PLAN)), item.get("GSI2PK", user_id)


def plan_identity_and_analytics_id(user_id: str) -> tuple[dict, str, str] | None:
    """`plan_and_identity` and the account's analytics id ("" for an account made before
    them and not written since) in the same read: what an upload ticket's usage record
    carries to the lake instead of the user id."""
    item = (
        table()
        .get_item(
            Key=profile_key(user_id),
            ConsistentRead=True,
            ProjectionExpression="current_subscription, GSI2PK, analytics_id",
        )
        .get("Item")
    )
    if item is None:
        return None
    return item.get("current_subscription", dict(FREE_PLAN)), item.get("GSI2PK", user_id), item.get("analytics_id", "")


def update(user_id: str, changes: dict[str, Any], removals: tuple[str, ...] = ()) -> dict | None:
    """Sets `changes` (and removes `removals`) on an existing profile; None if it is gone."""
    names, values, sets = {}, {}, []
    for i, (field, value) in enumerate(changes.items()):
        path = []  # "consents.privacy_policy" sets one entry of a map
        for j, part in enumerate(field.split(".")):
            names[f"#f{i}_{j}"] = part
            path.append(f"#f{i}_{j}")
        values[f":v{i}"] = value
        sets.append(f"{'.'.join(path)} = :v{i}")
    # An account made before analytics ids gets its random one with its next write.
    names["#aid"], values[":aid"] = "analytics_id", str(uuid.uuid4())
    sets.append("#aid = if_not_exists(#aid, :aid)")
    expression = "SET " + ", ".join(sets)
    if removals:
        for j, field in enumerate(removals):
            names[f"#r{j}"] = field
        expression += " REMOVE " + ", ".join(f"#r{j}" for j in range(len(removals)))
    try:
        return table().update_item(
            Key=profile_key(user_id),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ConditionExpression="attribute_exists(PK)",
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except ClientError as e:
        if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return None
        raise


def seal_fields(item: dict, fields: dict[str, str | None]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """(attributes to set, attributes to remove) for new PII values of a profile."""
    user_id = item["user_id"]
    key = crypto.open_data_key(user_id, bytes(item["data_key"]))
    sets, removals = {}, []
    for field, value in fields.items():
        if value:
            sets[f"{field}_enc"] = Binary(crypto.seal(key, user_id, field, value))
        else:
            removals.append(f"{field}_enc")
    return sets, tuple(removals)


def delete(item: dict) -> None:
    """Removes the user's usage records, the profile, its encrypted data key with it, and
    the identity mapping.

    An account made before analytics ids and not written since gets one first (one
    conditional update), so the stream's REMOVE carries it and `user_deleted` is counted
    instead of dropped. Usage records carry the analytics id under the user id's key: they
    go first, so nothing links the two once the profile is gone (a failure leaves an
    account to retry with; a job finishing in between is caught by the records' TTL).
    """
    name = settings().require("table_name")
    provider, subject = item["GSI2PK"].split("#", 2)[1:]
    if not item.get(accounts.ANALYTICS_ID) and not _assign_analytics_id(item["user_id"]):
        return  # deleted meanwhile by another request, which removed the rest
    _delete_usage_records(item["user_id"])
    aws.client("dynamodb").transact_write_items(
        TransactItems=[
            {"Delete": {"TableName": name, "Key": _typed(profile_key(item["user_id"]))}},
            {"Delete": {"TableName": name, "Key": _typed(identity_key(provider, subject))}},
        ]
    )
    crypto.forget(item["user_id"], bytes(item["data_key"]))


def _assign_analytics_id(user_id: str) -> bool:
    """A random analytics id for an account that has none; False if the account is gone."""
    try:
        table().update_item(
            Key=profile_key(user_id),
            UpdateExpression="SET #aid = if_not_exists(#aid, :aid)",
            ExpressionAttributeNames={"#aid": accounts.ANALYTICS_ID},
            ExpressionAttributeValues={":aid": str(uuid.uuid4())},
            ConditionExpression="attribute_exists(PK)",
        )
    except ClientError as e:
        if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _delete_usage_records(user_id: str) -> int:
    """Deletes every item under USAGE#<user id> (usage records, upload tickets): keys only
    are read. Their REMOVE records yield no audit event (analytics/events.py)."""
    tbl, found, start = table(), [], None
    while True:
        page = tbl.query(
            KeyConditionExpression=Key("PK").eq(f"{usage.KEY_PREFIX}{user_id}"),
            ProjectionExpression="PK, SK",
            ConsistentRead=True,
            **({"ExclusiveStartKey": start} if start else {}),
        )
        found += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    with tbl.batch_writer() as batch:  # 25 a request, unprocessed items retried
        for key in found:
            batch.delete_item(Key={"PK": key["PK"], "SK": key["SK"]})
    return len(found)


def to_user(item: dict) -> dict[str, Any]:
    """The contract's User, PII opened with the user's data key."""
    user_id = item["user_id"]
    key = crypto.open_data_key(user_id, bytes(item["data_key"]))
    plain = {
        f: (crypto.unseal(key, user_id, f, bytes(item[f"{f}_enc"])) if f"{f}_enc" in item else None) for f in PII_FIELDS
    }
    subscription = {
        k: v for k, v in item.get("current_subscription", FREE_PLAN).items() if k in ("type", "status", "expires_at")
    }
    user = {
        "id": user_id,
        **plain,
        "auth_provider": item["auth_provider"],
        "subscription": subscription,
        "consents": item["consents"],
        "device": item["device"],  # new_account writes both
        "created_at": item["created_at"],
        "updated_at": item["updated_at"],
    }
    if item.get("biometric") is not None:
        user["biometric"] = item["biometric"]
    return user
