"""Worst-case model spend: what one account can make Bedrock bill at its plan's quotas
(serenya:quotas), and what the whole account can at `process`'s reserved concurrency.

Every job is taken at its largest: the input as large as the model or the request limit
allows, the reply at the call's maxTokens, and billed twice (the S3 trigger's one retry
can call the model again after a failure that followed the call). Throttled calls are not
billed. These are ceilings to compare, not forecasts: `make cost`'s profile is the forecast.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from components.config import Settings
from cost.data import PriceList
from functions.catalog import by_name
from functions.common import quotas
from functions.common.limits import CONTEXT_TOKENS, MAX_CHAT_TOKENS
from functions.process.providers import MAX_OUTPUT_TOKENS

SYSTEM_TOKENS = 2_000       # a task's system prompt and tool schema (docs/benchmarks.md: about 1,000)
DAYS_PER_MONTH = 30
# The account-wide bound: a full-context call takes at least this long (an assumption, stated
# with the figure; Bedrock's tokens-per-minute quota usually binds first).
MIN_CALL_SECONDS = 10


def billed_calls_per_job() -> int:
    trigger = by_name()["process"].trigger
    return 1 + trigger.retries.attempts


def max_input_tokens(kind: str) -> int:
    """The most input one job of `kind` can send: a chat is refused over its estimated
    token budget (functions/common/limits.py); lab reports and doctor reports are bounded
    only by the context window (Claude Haiku 4.5's, Anthropic's model overview)."""
    if kind == "chat_messages":
        return min(CONTEXT_TOKENS, MAX_CHAT_TOKENS + SYSTEM_TOKENS)
    return CONTEXT_TOKENS


def job_ceiling(kind: str, prices: PriceList, model_id: str) -> Decimal:
    model = prices.model(model_id)
    one_call = (Decimal(max_input_tokens(kind)) * model.input_per_1k
                + Decimal(MAX_OUTPUT_TOKENS) * model.output_per_1k) / 1000
    return one_call * billed_calls_per_job()


@dataclass(frozen=True)
class Ceiling:
    plan: str
    jobs: dict[str, int]          # per kind, a month at the limits
    spend: Decimal                # the model's bill for them, at most


def per_account(settings: Settings, prices: PriceList) -> list[Ceiling]:
    """One account of each plan using every limit to the full, every day of a month."""
    found = []
    for plan in quotas.PLANS:
        limits = settings.quota_limits[plan]
        jobs = {kind: min(limits[kind]["day"], 24 * limits[kind]["hour"]) * DAYS_PER_MONTH for kind in quotas.KINDS}
        spend = sum((n * job_ceiling(kind, prices, settings.bedrock_model_id) for kind, n in jobs.items()),
                    Decimal("0"))
        found.append(Ceiling(plan, jobs, spend))
    return found


def account_wide(settings: Settings, prices: PriceList) -> tuple[int, Decimal]:
    """(reserved concurrency, monthly ceiling): every slot of `process` busy with full-context
    calls of MIN_CALL_SECONDS, all month."""
    slots = settings.reserved_for("process") or 0
    calls = slots * prices.seconds_per_month // MIN_CALL_SECONDS
    return slots, calls * job_ceiling("documents", prices, settings.bedrock_model_id) / billed_calls_per_job()


def summary(stack: str, settings: Settings, prices: PriceList) -> list[str]:
    lines = []
    for c in per_account(settings, prices):
        jobs = ", ".join(f"{n:,} {kind.replace('_', ' ')}" for kind, n in c.jobs.items())
        lines.append(f"{stack}: one {c.plan} account at its quotas ({jobs} a month): at most ${c.spend:,.2f}/month "
                     f"of model spend")
    slots, spend = account_wide(settings, prices)
    lines.append(f"{stack}: the whole account at process's reserved concurrency ({slots}): at most ${spend:,.0f}/month "
                 f"(every slot busy with {CONTEXT_TOKENS:,}-token calls of {MIN_CALL_SECONDS} s; Bedrock's "
                 f"tokens-per-minute quota binds long before)")
    return lines
