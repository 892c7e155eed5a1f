"""Lambda concurrency a stack takes from its account, checked before any resource exists.

A reservation is a ceiling the function never passes and a share of the regional pool
no other function may use, whether it is used or not; provisioned concurrency is kept
warm and taken from the pool too (within the function's reservation when it has one).
Lambda refuses any reservation or provisioning that would leave fewer than 100
unreserved executions, so a stack fits only if everything it takes stays under the
account's quota minus 100. Reservations are kept for functions where a ceiling protects
something (the cost of the model calls of `process`), not handed to every function.

AWS: https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
     https://docs.aws.amazon.com/lambda/latest/dg/provisioned-concurrency.html
     https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html (1,000 by default)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from components.config import Settings
    from functions.catalog import Function

UNRESERVED_MINIMUM = 100  # executions Lambda always keeps for functions without a reservation
DEFAULT_ACCOUNT_QUOTA = 1000


@dataclass(frozen=True)
class Allocation:
    function: str
    reserved: int  # 0: draws from the unreserved pool
    provisioned: int  # warm instances on the `live` alias

    @property
    def taken(self) -> int:
        """What the function removes from the account's pool."""
        return max(self.reserved, self.provisioned)


def allocations(settings: Settings, catalog: tuple[Function, ...]) -> list[Allocation]:
    """Every function of `catalog` that takes concurrency from the account."""
    found = []
    for fn in catalog:
        reserved = settings.reserved_for(fn.name) or 0
        provisioned = settings.provisioned_concurrency if fn.warm else 0
        if reserved or provisioned:
            found.append(Allocation(fn.name, reserved, provisioned))
    return found


def taken(settings: Settings, catalog: tuple[Function, ...]) -> int:
    return sum(a.taken for a in allocations(settings, catalog))


def available(account_quota: int) -> int:
    """What reservations and provisioned concurrency may take from an account's quota."""
    return max(0, account_quota - UNRESERVED_MINIMUM)


def problems(settings: Settings, catalog: tuple[Function, ...]) -> list[str]:
    """Why Lambda would refuse the stack's concurrency; empty when it fits."""
    found = []
    for a in allocations(settings, catalog):
        if a.reserved and a.provisioned > a.reserved:
            found.append(
                f"serenya:provisionedConcurrency: {a.provisioned} exceeds {a.function}'s "
                f"serenya:reservedConcurrency {a.reserved}"
            )
    total, limit = taken(settings, catalog), available(settings.account_concurrency)
    if total > limit:
        parts = ", ".join(f"{a.function} {a.taken}" for a in allocations(settings, catalog))
        found.append(
            f"serenya:reservedConcurrency / serenya:provisionedConcurrency: the stack takes {total} "
            f"({parts}) but serenya:accountConcurrency {settings.account_concurrency} leaves "
            f"{limit} (Lambda keeps {UNRESERVED_MINIMUM} unreserved); lower them or raise the quota"
        )
    return found
