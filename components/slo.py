"""Service level objectives as alarms: every objective of the catalog (functions/catalog.py:
AVAILABILITY, a route's latency objective) gets multi-window burn-rate alarms, one metric
alarm per window and an AND composite per burn rate."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from components import runbook_text as text
from components.alarm_builders import rollbacks, route_slug
from components.alarm_specs import (
    CRITICAL,
    DAY,
    ERRORS_BY_REQUEST,
    HOUR,
    MINUTE,
    SLOWEST_REQUESTS,
    USER_REQUESTS,
    WARNING,
    AlarmSpec,
    CompositeSpec,
    Expression,
    Metric,
    StackNames,
)
from functions.catalog import AVAILABILITY, Function, Objective


@dataclass(frozen=True)
class BurnRate:
    """A multi-window burn-rate alert of the SRE workbook ("Alerting on SLOs", recipe 6:
    https://sre.google/workbook/alerting-on-slos/): it fires while the error budget is spent
    fast enough to consume `budget_share` of it within the long window, measured over that
    window and confirmed over the short one (1/12 of it), which also ends the alert soon
    after the burn stops. Each window is one metric alarm whose period is the window."""

    name: str
    budget_share: float
    long_s: int
    short_s: int
    severity: str

    def factor(self, objective: Objective) -> float:
        """The burn rate, how many times faster than the objective allows: spending 2% of a
        30-day budget in 1 hour is 0.02 x 720 h / 1 h = 14.4; 5% in 6 hours is 6."""
        return round(self.budget_share * objective.window_days * DAY / self.long_s, 6)

    def threshold(self, objective: Objective) -> float:
        """The share of bad events burning at that rate: 14.4 x (1 - 0.999) = 1.44%."""
        return round(self.factor(objective) * objective.budget, 10)


FAST_BURN = BurnRate("fast-burn", 0.02, HOUR, 5 * MINUTE, CRITICAL)  # pages
SLOW_BURN = BurnRate("slow-burn", 0.05, 6 * HOUR, 30 * MINUTE, WARNING)  # a ticket: mails the warning topic
BURN_RATES = (FAST_BURN, SLOW_BURN)
# A window with fewer bad events than this is not burning: at night one 5XX among a
# handful of requests is a 20% share of errors, not an incident worth a page.
MIN_BAD_EVENTS = 5


@dataclass(frozen=True)
class Indicator:
    """A service level indicator as metric math over one window: `share` is the share of
    bad events (0..1), `bad` their number, both over `metrics(period)`."""

    key: str  # availability, auth-oauth-signin-post-latency
    title: str
    objective: Objective
    metrics: Callable[[int], dict[str, Metric]]
    share: str
    bad: str
    function: str | None  # the function behind it (a route's); None: the whole API
    queries: tuple[str, ...]
    procedures: tuple[str, ...]


def indicators(catalog: tuple[Function, ...], names: StackNames) -> list[Indicator]:
    """The API's availability, and the latency of every route with a target.

    A route's slow requests are counted with the percentile-rank statistic of API
    Gateway's Latency: PR(:t) is the percentage of data points at or below t, so
    100 - PR(:t) is the percentage over the target, and SampleCount the requests
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Statistics-definitions.html).
    FILL gives a window without requests no bad events."""
    api = {"ApiName": names.api, "Stage": names.stage}
    found = [
        Indicator(
            "availability",
            text.AVAILABILITY_TITLE,
            AVAILABILITY,
            lambda period: {
                "errors": Metric("AWS/ApiGateway", "5XXError", api, "Sum", period),
                "requests": Metric("AWS/ApiGateway", "Count", api, "Sum", period),
            },
            share="FILL(errors, 0) / MAX([FILL(requests, 0), 1])",
            bad="FILL(errors, 0)",
            function=None,
            queries=(ERRORS_BY_REQUEST, USER_REQUESTS),
            procedures=rollbacks(catalog),
        )
    ]
    slow = "(100 - FILL(within, 100)) / 100"
    for fn in catalog:
        for route in fn.routes:
            if route.latency_p99_ms is None:
                continue
            dims, target = {**api, "Resource": route.path, "Method": route.method}, route.latency_p99_ms
            found.append(
                Indicator(
                    f"{route_slug(route)}-latency",
                    text.LATENCY_TITLE.format(method=route.method, path=route.path, target=target),
                    route.latency_objective,
                    _latency_metrics(dims, target),
                    share=slow,
                    bad=f"FILL(requests, 0) * {slow}",
                    function=fn.name,
                    queries=(SLOWEST_REQUESTS,),
                    procedures=(f"rollback:{fn.name}",),
                )
            )
    return found


def _latency_metrics(dims: dict[str, str], target: int) -> Callable[[int], dict[str, Metric]]:
    """A route's latency metrics over one window: the requests within `target` ms, and all."""

    def metrics(period: int) -> dict[str, Metric]:
        return {
            "within": Metric("AWS/ApiGateway", "Latency", dims, f"PR(:{target})", period),
            "requests": Metric("AWS/ApiGateway", "Latency", dims, "SampleCount", period),
        }

    return metrics


def window_label(seconds: int) -> str:
    return f"{seconds // HOUR}h" if seconds % HOUR == 0 else f"{seconds // MINUTE}m"


def _duration(seconds: int) -> str:
    return f"{seconds // HOUR} h" if seconds % HOUR == 0 else f"{seconds // MINUTE} min"


def burn_rate_alarms(indicator: Indicator, rate: BurnRate) -> tuple[list[AlarmSpec], CompositeSpec]:
    """The two window alarms of one burn rate of one objective, and their AND composite."""
    objective, factor, threshold = (
        indicator.objective,
        rate.factor(indicator.objective),
        rate.threshold(indicator.objective),
    )
    if threshold >= 1:
        raise ValueError(
            f"{indicator.title}: an objective of {objective.target:.2%} is too low for burn-rate "
            f"alerting: {factor:g} times its budget is {threshold:.0%} of all events"
        )
    signal = f"{indicator.key}-{rate.name}"
    left = objective.window_days * 24 / factor  # hours until the budget is gone at this rate
    scope = "api" if indicator.function is None else "route"
    impact = (
        text.BURN_IMPACT.format(
            window_days=objective.window_days,
            budget=objective.budget,
            counted=text.BURN_COUNTED[scope],
            when=f"{left:g} hours" if left < 72 else f"{left / 24:g} days",
        )
        + text.BURN_URGENCY[rate.severity]
    )
    checks = text.format_checks(
        text.BURN_CHECKS[scope], errors_query=ERRORS_BY_REQUEST, slow_query=SLOWEST_REQUESTS, fn=indicator.function
    )
    windows = []
    for period in (rate.long_s, rate.short_s):
        label = window_label(period)
        windows.append(
            AlarmSpec(
                "api",
                f"{signal}-{label}",
                text.BURN_WINDOW_TITLE.format(
                    indicator=indicator.title, threshold=threshold, duration=_duration(period), factor=factor
                ),
                Expression(
                    f"IF({indicator.bad} >= {MIN_BAD_EVENTS}, {indicator.share}, 0)",
                    indicator.metrics(period),
                    f"bad share over {label}",
                ),
                threshold,
                text.BURN_WINDOW_IMPACT.format(signal=signal),
                checks,
                severity=rate.severity,
                part_of=f"api-{signal}",
                queries=indicator.queries,
            )
        )
    composite = CompositeSpec(
        "api",
        signal,
        text.BURN_TITLE.format(
            indicator=indicator.title,
            window_days=objective.window_days,
            factor=factor,
            threshold=threshold,
            long=_duration(rate.long_s),
            short=_duration(rate.short_s),
        ),
        tuple(w.key for w in windows),
        "AND",
        impact,
        checks,
        severity=rate.severity,
        queries=indicator.queries,
        procedures=indicator.procedures,
    )
    return windows, composite


def _playbook(indicator: Indicator, rate: BurnRate, timeouts: dict[str, int]) -> text.Playbook:
    objective = indicator.objective
    left = objective.window_days * 24 / rate.factor(objective)
    return text.BURN_PLAYBOOKS["api" if indicator.function is None else "route"].format(
        indicator=indicator.title,
        fn=indicator.function,
        timeout_s=timeouts.get(indicator.function or "", 0),
        budget=text.BUDGET_WIDGET_TITLE.format(
            indicator=indicator.title, target=objective.target, window_days=objective.window_days
        ),
        when=f"{left:g} hours" if left < 72 else f"{left / 24:g} days",
    )


def objective_alarms(catalog: tuple[Function, ...], names: StackNames) -> tuple[list[AlarmSpec], list[CompositeSpec]]:
    """Every objective's burn-rate windows (metric alarms) and composites, fast then slow."""
    if not any(fn.routes for fn in catalog):
        return [], []
    windows: list[AlarmSpec] = []
    composites: list[CompositeSpec] = []
    timeouts = {fn.name: fn.timeout_s for fn in catalog}
    for indicator in indicators(catalog, names):
        for rate in BURN_RATES:
            w, c = burn_rate_alarms(indicator, rate)
            windows += w
            if rate.severity == CRITICAL:
                c = dataclasses.replace(c, playbook=_playbook(indicator, rate, timeouts))
            composites.append(c)
    return windows, composites
