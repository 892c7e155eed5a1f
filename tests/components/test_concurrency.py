"""Concurrency the stacks take from the account, against Lambda's documented rules:
https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html (at least 100
executions stay unreserved) and gettingstarted-limits.html (1,000 per region by default;
new accounts may start lower)."""

import pytest

from components import concurrency
from components.config import ConfigError, load_settings, stack_config
from functions.catalog import CATALOG


def settings_of(stack, **overrides):
    config = {**stack_config(stack), **overrides}
    return load_settings(lambda key: config.get(key), stack)


def test_dev_and_prod_together_fit_one_default_account():
    dev, prod = settings_of("dev"), settings_of("prod")
    both = concurrency.taken(dev, CATALOG) + concurrency.taken(prod, CATALOG)
    assert both <= concurrency.available(concurrency.DEFAULT_ACCOUNT_QUOTA) == 900


def test_only_functions_with_a_reason_reserve():
    prod = settings_of("prod")
    reserved = {a.function for a in concurrency.allocations(prod, CATALOG) if a.reserved}
    provisioned = {a.function for a in concurrency.allocations(prod, CATALOG) if a.provisioned}
    assert reserved == {"process"}
    assert provisioned == {fn.name for fn in CATALOG if fn.warm}
    assert not any(a.provisioned for a in concurrency.allocations(settings_of("dev"), CATALOG))


def test_prod_counts_reservations_and_warm_instances():
    prod = settings_of("prod")
    warm = sum(1 for fn in CATALOG if fn.warm)
    assert concurrency.taken(prod, CATALOG) == 50 + warm * prod.provisioned_concurrency


def test_a_new_accounts_quota_refuses_the_stack_naming_the_keys():
    # New accounts are often given 10 concurrent executions: nothing can be reserved.
    with pytest.raises(ConfigError) as e:
        settings_of("dev", **{"serenya:accountConcurrency": "10"})
    message = str(e.value)
    assert "serenya:reservedConcurrency" in message and "serenya:accountConcurrency 10" in message
    assert "process 10" in message


def test_a_stack_just_over_its_share_is_refused_and_one_at_the_limit_fits():
    prod = settings_of("prod")
    need = concurrency.taken(prod, CATALOG)
    settings_of("prod", **{"serenya:accountConcurrency": str(need + 100)})
    with pytest.raises(ConfigError, match="accountConcurrency"):
        settings_of("prod", **{"serenya:accountConcurrency": str(need + 99)})


def test_warm_instances_cannot_exceed_a_functions_reservation():
    # Lambda refuses provisioned concurrency above the function's reserved concurrency.
    with pytest.raises(ConfigError, match="exceeds auth's serenya:reservedConcurrency 5"):
        settings_of("prod", **{"serenya:reservedConcurrency": '{"process": 50, "auth": 5}',
                               "serenya:provisionedConcurrency": "10"})


def test_functions_without_a_reservation_draw_from_the_pool(prod_run):
    functions = prod_run.mocks.of_type("aws:lambda/function:Function")
    reserved = {f.inputs["name"]: f.inputs.get("reservedConcurrentExecutions") for f in functions}
    assert reserved.pop("serenya-prod-process") == 50
    assert set(reserved.values()) == {None}
