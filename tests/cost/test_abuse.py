"""`make cost`'s worst case of the model's spend (cost/abuse.py): properties, not the formula."""

import dataclasses
import json

import pytest

from components.config import load_settings, stack_config
from cost import abuse
from cost.data import load_prices
from functions.common import quotas
from functions.common.limits import MAX_CHAT_TOKENS

PRICES = load_prices()


def settings(limits=None, stack="prod"):
    s = load_settings(stack_config(stack).get, stack)
    return s if limits is None else dataclasses.replace(s, quotas=json.dumps(limits))


def ceilings(limits=None):
    return {c.plan: c for c in abuse.per_account(settings(limits), PRICES)}


def test_a_limit_of_zero_costs_nothing_and_every_plan_is_bounded():
    closed = {plan: {kind: {"hour": 0, "day": 0} for kind in quotas.KINDS} for plan in quotas.PLANS}
    assert all(c.spend == 0 for c in ceilings(closed).values())
    default = ceilings()
    assert 0 < default["free"].spend < default["premium"].spend


def test_the_day_binds_unless_the_hour_is_smaller():
    limits = json.loads(json.dumps(quotas.DEFAULT_LIMITS))
    limits["free"]["documents"] = {"hour": 1, "day": 100}   # 24 a day at most
    assert ceilings(limits)["free"].jobs["documents"] == 24 * abuse.DAYS_PER_MONTH
    limits["free"]["documents"] = {"hour": 10, "day": 5}
    assert ceilings(limits)["free"].jobs["documents"] == 5 * abuse.DAYS_PER_MONTH


def test_spend_grows_with_the_limits():
    more = json.loads(json.dumps(quotas.DEFAULT_LIMITS))
    more["free"]["chat_messages"]["day"] += 10
    assert ceilings(more)["free"].spend > ceilings()["free"].spend


def test_a_chat_cannot_bill_more_input_than_its_body_allows_nor_a_job_more_than_the_context():
    assert abuse.max_input_tokens("chat_messages") < abuse.CONTEXT_TOKENS
    assert abuse.max_input_tokens("chat_messages") >= MAX_CHAT_TOKENS  # the most a chat is let through
    assert abuse.max_input_tokens("documents") == abuse.CONTEXT_TOKENS
    # The trigger's retry can bill a job's model call twice.
    assert abuse.billed_calls_per_job() == 2


def test_the_account_wide_ceiling_scales_with_the_reserved_concurrency():
    prod, dev = settings(), settings(stack="dev")
    (prod_slots, prod_spend), (dev_slots, dev_spend) = abuse.account_wide(prod, PRICES), abuse.account_wide(dev, PRICES)
    assert (prod_slots, dev_slots) == (50, 10)
    assert prod_spend == pytest.approx(dev_spend * 5, rel=1e-9)


def test_make_cost_prints_each_stacks_ceilings():
    lines = abuse.summary("prod", settings(), PRICES)
    assert [l.split(":")[0] for l in lines] == ["prod"] * 3
    assert "one free account" in lines[0] and "one premium account" in lines[1] and "reserved concurrency" in lines[2]
