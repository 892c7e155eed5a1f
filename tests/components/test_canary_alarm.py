"""The canary's failures alarm follows the stack's serenya:canaryRate: one period per run,
two failed runs of three (components/alarm_builders.custom_alarms)."""

import pytest

from components.alarm_builders import custom_alarms
from components.config import load_settings, stack_config
from functions.catalog import by_name


def settings_with(stack, **overrides):
    config = {**stack_config(stack), **overrides}
    return load_settings(lambda key: config.get(key), stack)


def failures_alarm(settings, signal="canary-failures"):
    (spec,) = [s for s in custom_alarms(by_name()["canary"], settings) if s.signal == signal]
    return spec


@pytest.mark.parametrize("stack, minutes", [("prod", 10), ("dev", 30)])
def test_the_canary_pages_on_two_failed_runs_in_a_row_at_its_stacks_rate(stack, minutes):
    spec = failures_alarm(settings_with(stack))
    assert spec.source.period_s == minutes * 60
    assert (spec.periods, spec.datapoints) == (3, 2)  # a run landing late in the next period resets nothing
    # Any failure in a run's period breaches it: one run's failure is 1, above 0.
    assert (spec.source.statistic, spec.comparison, spec.threshold) == ("Sum", "GreaterThanThreshold", 0)
    assert spec.severity == "critical"
    assert f"2 of 3 consecutive {minutes}-minute periods" in spec.title


def test_a_faster_rate_gives_a_shorter_period():
    spec = failures_alarm(settings_with("prod", **{"serenya:canaryRate": "rate(1 minute)"}))
    assert spec.source.period_s == 60 and spec.periods == 3


def test_the_canary_errors_alarm_can_fire_at_one_run_per_period():
    from components.alarm_builders import function_alarms
    from components import alarms
    settings = settings_with("prod")
    names = alarms.StackNames(settings.name(), "t", settings.name("api"), "v1")
    (errors,) = [s for s in function_alarms(by_name()["canary"], settings, names) if s.signal == "errors"]
    # A crash or a timeout measured nothing: told, not paged (its journey's failures page).
    assert errors.threshold == 0 and errors.severity == "warning"
