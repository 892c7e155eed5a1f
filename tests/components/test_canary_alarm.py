"""The canary's failures alarm follows the stack's serenya:canaryRate: one period per run,
two failed runs in a row (components/alarm_builders.custom_alarms)."""

import pytest

from components.alarm_builders import custom_alarms
from components.config import load_settings, stack_config
from functions.catalog import by_name


def settings_with(stack, **overrides):
    config = {**stack_config(stack), **overrides}
    return load_settings(lambda key: config.get(key), stack)


def failures_alarm(settings):
    (spec,) = [s for s in custom_alarms(by_name()["canary"], settings) if s.signal == "canary-failures"]
    return spec


@pytest.mark.parametrize("stack, minutes", [("prod", 10), ("dev", 30)])
def test_the_canary_pages_on_two_failed_runs_in_a_row_at_its_stacks_rate(stack, minutes):
    spec = failures_alarm(settings_with(stack))
    assert spec.source.period_s == minutes * 60
    assert (spec.periods, spec.datapoints) == (2, 2)
    # Any failure in a run's period breaches it: one run's failure is 1, above 0.
    assert (spec.source.statistic, spec.comparison, spec.threshold) == ("Sum", "GreaterThanThreshold", 0)
    assert spec.severity == "critical"
    assert f"2 consecutive {minutes}-minute periods" in spec.title


def test_a_faster_rate_gives_a_shorter_period():
    spec = failures_alarm(settings_with("prod", **{"serenya:canaryRate": "rate(1 minute)"}))
    assert spec.source.period_s == 60 and spec.periods == 2
