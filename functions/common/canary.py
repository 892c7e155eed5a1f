"""The synthetic user: the reserved account the canary walks the API as (functions/canary).

One fixed id in every stack (each stack has its own table, so the same id is a different
account in each). It is no person's: its profile holds the keys and a creation time only,
no name, no email, no identity at Google or Apple, so no one can sign in as it; the canary
mints its tokens itself (functions/common/tokens.py, `canary=True`), for this id only.

What it does must not count as anyone's use of the app: its quotas are not counted
(functions/common/quotas.py) and none of its table items become audit events
(functions/stream_processor). A uuid of the contract's form, so job ids parse; random
uuid4s never have this many zero bits.

Standard library only: the Pulumi program scopes the canary's role to this id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CANARY_USER_ID = "00000000-0000-4000-8000-00000000ca11"
# The table items that are the canary's: its profile, its usage records and quota counters
# (their keys' prefixes, followed by the user id).
_PARTITIONS = frozenset({f"USER#{CANARY_USER_ID}", f"USAGE#{CANARY_USER_ID}", f"QUOTA#{CANARY_USER_ID}"})


def is_canary(user_id: str | None) -> bool:
    return user_id == CANARY_USER_ID


def owns_record(record: Mapping[str, Any]) -> bool:
    """Whether a DynamoDB stream record (Lambda's JSON) is of one of the canary's items."""
    pk = ((record.get("dynamodb") or {}).get("Keys") or {}).get("PK") or {}
    return isinstance(pk, Mapping) and pk.get("S") in _PARTITIONS
