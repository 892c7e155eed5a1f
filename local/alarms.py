"""The stack's alarms, evaluated locally on the metric store with CloudWatch's semantics.

The definitions are the program's own: the `aws.cloudwatch.MetricAlarm` and
`CompositeAlarm` resources that `components/observability.py` declares (rendered from
`components/alarms.py`), as recorded by the Pulumi mocks the local stack runs the program
under (local/program.py), with the inputs `pulumi up` sends. Nothing is listed by hand.

Evaluating a metric alarm at time t (CloudWatch evaluates every minute; locally every
CloudWatch minute of the store's clock, `60 * scale` seconds), from
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html
("Evaluating an alarm", "Configuring how CloudWatch alarms treat missing data"):

- the evaluation range is the N + 2 most recent periods ending at t (N = evaluation
  periods; the page's example retrieves 5 datapoints for 3 periods); each period's
  datapoint is the statistic of the metric, or the metric math expression's value
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html),
  or missing;
- with at least N real datapoints, the N most recent are evaluated and missing data
  does not matter; with fewer, the real ones are kept and as few missing ones as
  needed (the most recent) make up N, treated as `breaching`, `notBreaching`, or, for
  `missing` and `ignore`, not counted;
- ALARM when at least M (datapoints to alarm) evaluated datapoints breach, else OK;
  except, with fewer than N real datapoints under `missing` or `ignore`: OK if a real
  one does not breach, else (only breaching real ones, fewer than M) ALARM when the
  oldest evaluated datapoint is a breaching real one ("the oldest evaluated data point
  is breaching and there aren't any non-breaching data points"), otherwise
  INSUFFICIENT_DATA (`missing`) or the current state (`ignore`). The tests replay the
  page's tables.

A composite alarm is ALARM when its rule is TRUE, OK when FALSE
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutCompositeAlarm.html):
ALARM(name), OK(name), INSUFFICIENT_DATA(name) with a name or ARN, quoted or not,
TRUE, FALSE, NOT, AND, OR, parentheses, and AT_LEAST(M | M%, [NOT] STATE, (names)).

Every alarm starts INSUFFICIENT_DATA, as a new CloudWatch alarm does.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

from local import metric_math
from local.metric_store import MetricStat, MetricStore

OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}
_SYMBOL = {
    "GreaterThanThreshold": "greater than",
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}
MISSING_TREATMENTS = ("breaching", "notBreaching", "ignore", "missing")
EXTRA_PERIODS = 2  # the evaluation range: N + 2 periods


# -- definitions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """One entry of an alarm's metric queries: a metric or an expression."""

    id: str
    metric: MetricStat | None = None
    expression: str | None = None
    return_data: bool = False


@dataclass(frozen=True)
class MetricAlarm:
    name: str
    severity: str
    runbook: str
    comparison: str
    threshold: float
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing: str
    queries: tuple[Query, ...]  # a single metric alarm has one metric query
    period: int  # CloudWatch seconds
    region: str | None = None

    @property
    def result(self) -> Query:
        return next(q for q in self.queries if q.return_data)


@dataclass(frozen=True)
class CompositeAlarm:
    name: str
    rule: str
    severity: str | None
    runbook: str


def _runbook(inputs: Mapping) -> str:
    tags = inputs.get("tags") or {}
    if tags.get("runbook"):
        return tags["runbook"]
    m = re.search(r"Runbook: (\S+)", inputs.get("alarmDescription") or "")
    return m.group(1) if m else ""


def metric_alarm(inputs: Mapping) -> MetricAlarm:
    """A MetricAlarm from the inputs a `aws.cloudwatch.MetricAlarm` sends (camelCase)."""
    name = inputs["name"]
    if inputs.get("thresholdMetricId"):
        raise ValueError(f"{name}: anomaly detection alarms are not evaluated locally")
    comparison = inputs["comparisonOperator"]
    if comparison not in COMPARISONS:
        raise ValueError(f"{name}: comparison {comparison} is not evaluated locally")
    missing = inputs.get("treatMissingData") or "missing"
    if missing not in MISSING_TREATMENTS:
        raise ValueError(f"{name}: treatMissingData {missing!r}")
    n = int(inputs["evaluationPeriods"])
    m = int(inputs.get("datapointsToAlarm") or n)
    if not 1 <= m <= n:
        raise ValueError(f"{name}: datapoints to alarm {m} must be within 1..{n}")
    if inputs.get("metricQueries"):
        queries = []
        for q in inputs["metricQueries"]:
            metric = q.get("metric")
            stat = None
            if metric:
                stat = MetricStat(
                    metric["namespace"],
                    metric["metricName"],
                    dict(metric.get("dimensions") or {}),
                    metric["stat"],
                    int(metric["period"]),
                )
            elif q.get("expression"):
                metric_math.parse(q["expression"])  # an expression this evaluator cannot read fails now
            else:
                raise ValueError(f"{name}: query {q.get('id')} has neither a metric nor an expression")
            queries.append(Query(q["id"], stat, q.get("expression"), bool(q.get("returnData"))))
        if sum(q.return_data for q in queries) != 1:
            raise ValueError(f"{name}: exactly one metric query must return data")
        periods = {q.metric.period for q in queries if q.metric}
        if len(periods) != 1:
            raise ValueError(f"{name}: the metrics of an alarm's expression use one period, not {sorted(periods)}")
        period = periods.pop()
    else:
        statistic = inputs.get("extendedStatistic") or inputs.get("statistic")
        if not statistic:
            raise ValueError(f"{name}: a single metric alarm needs a statistic or an extended statistic")
        period = int(inputs["period"])
        queries = [
            Query(
                "m1",
                MetricStat(
                    inputs["namespace"], inputs["metricName"], dict(inputs.get("dimensions") or {}), statistic, period
                ),
                return_data=True,
            )
        ]
    return MetricAlarm(
        name,
        (inputs.get("tags") or {}).get("severity", "warning"),
        _runbook(inputs),
        comparison,
        float(inputs["threshold"]),
        n,
        m,
        missing,
        tuple(queries),
        period,
        inputs.get("region"),
    )


def composite_alarm(inputs: Mapping) -> CompositeAlarm:
    name = inputs["alarmName"]
    parse_rule(inputs["alarmRule"])
    return CompositeAlarm(name, inputs["alarmRule"], (inputs.get("tags") or {}).get("severity"), _runbook(inputs))


# -- composite rules --------------------------------------------------------------------------

_RULE_TOKEN = re.compile(r'\s*(?:(?P<paren>[(),])|(?P<quoted>"[^"]*")|(?P<word>[^\s(),"]+))')
STATES = (ALARM, OK, INSUFFICIENT)


def _rule_tokens(rule: str) -> list[str]:
    out, pos = [], 0
    while pos < len(rule.rstrip()):
        m = _RULE_TOKEN.match(rule, pos)
        if not m:
            raise ValueError(f"cannot read alarm rule {rule!r} at {pos}")
        out.append(m.group(cast(str, m.lastgroup)))  # a match is one of the named alternatives
        pos = m.end()
    return out


def parse_rule(rule: str):
    """A composite alarm rule as a tree: ("state", STATE, name), ("const", bool),
    ("not", x), ("and", a, b), ("or", a, b), ("at_least", count, percent, negate, STATE, names)."""
    tokens, i = _rule_tokens(rule), 0

    def peek():
        return tokens[i] if i < len(tokens) else None

    def take(expected=None):
        nonlocal i
        token = peek()
        if token is None or (expected is not None and token != expected):
            raise ValueError(f"alarm rule {rule!r}: expected {expected or 'more'}, found {token}")
        i += 1
        return token

    def name():
        token = take()
        return token[1:-1] if token.startswith('"') else token

    def disjunction():
        left = conjunction()
        while peek() == "OR":
            take()
            left = ("or", left, conjunction())
        return left

    def conjunction():
        left = negation()
        while peek() == "AND":
            take()
            left = ("and", left, negation())
        return left

    def negation():
        if peek() == "NOT":
            take()
            return ("not", negation())
        return primary()

    def primary():
        token = take()
        if token == "(":
            inner = disjunction()
            take(")")
            return inner
        if token in ("TRUE", "FALSE"):
            return ("const", token == "TRUE")
        if token in STATES:
            take("(")
            alarm = name()
            take(")")
            return ("state", token, alarm)
        if token == "AT_LEAST":
            take("(")
            amount = take()
            percent = amount.endswith("%")
            count = float(amount.rstrip("%"))
            take(",")
            negate = peek() == "NOT"
            if negate:
                take()
            state = take()
            if state not in STATES:
                raise ValueError(f"alarm rule {rule!r}: AT_LEAST of {state}")
            take(",")
            take("(")
            names = [name()]
            while peek() == ",":
                take()
                names.append(name())
            take(")")
            take(")")
            return ("at_least", count, percent, negate, state, tuple(names))
        raise ValueError(f"alarm rule {rule!r}: unexpected {token}")

    tree = disjunction()
    if peek() is not None:
        raise ValueError(f"alarm rule {rule!r}: unexpected {peek()}")
    return tree


def rule_names(tree) -> set[str]:
    kind = tree[0]
    if kind == "state":
        return {tree[2]}
    if kind == "at_least":
        return set(tree[5])
    if kind == "const":
        return set()
    return set().union(*(rule_names(t) for t in tree[1:]))


def evaluate_rule(tree, state_of: Callable[[str], str]) -> bool:
    kind = tree[0]
    if kind == "const":
        return tree[1]
    if kind == "state":
        return state_of(tree[2]) == tree[1]
    if kind == "not":
        return not evaluate_rule(tree[1], state_of)
    if kind == "and":
        return evaluate_rule(tree[1], state_of) and evaluate_rule(tree[2], state_of)
    if kind == "or":
        return evaluate_rule(tree[1], state_of) or evaluate_rule(tree[2], state_of)
    _, count, percent, negate, state, names = tree
    matching = sum((state_of(n) == state) != negate for n in names)
    return matching >= (math.ceil(count / 100 * len(names)) if percent else count)


# -- the missing-data rules -------------------------------------------------------------------


def decide(points: Sequence[bool | None], n: int, m: int, missing: str) -> str | None:
    """The new state from the evaluation range's datapoints, oldest first (True: breaching,
    False: not breaching, None: missing); None means "keep the current state" (`ignore`)."""
    known = {i: p for i, p in enumerate(points) if p is not None}  # index -> breaching
    real = list(known)
    if len(real) >= n:
        evaluated = [known[i] for i in real[-n:]]
        return ALARM if sum(evaluated) >= m else OK
    # The missing datapoints that make up N: as few as possible, the most recent ones.
    gaps = [i for i, p in enumerate(points) if p is None][-(n - len(real)) :]
    if missing in ("breaching", "notBreaching"):
        fill = missing == "breaching"
        evaluated = [known[i] for i in real] + [fill] * (n - len(real))
        return ALARM if sum(evaluated) >= m else OK
    breaching = sum(known[i] for i in real)
    if breaching >= m:
        return ALARM
    if any(points[i] is False for i in real):
        return OK
    if real and missing == "missing" and real[0] < min(gaps, default=len(points)):
        return ALARM
    return INSUFFICIENT if missing == "missing" else None


# -- the engine ---------------------------------------------------------------------------------


@dataclass
class State:
    value: str = INSUFFICIENT
    reason: str = "Unchecked: Initial alarm creation"
    updated: float | None = None


Quota = Callable[[MetricStat], float | None]


@dataclass
class AlarmEngine:
    store: MetricStore
    metric_alarms: tuple[MetricAlarm, ...]
    composites: tuple[CompositeAlarm, ...]
    paging: str  # the composite that pages on-call
    quota: Quota = lambda metric: None  # SERVICE_QUOTA of a usage metric
    before_evaluation: Callable[[float], None] = lambda at: None  # samples gauges first
    states: dict[str, State] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # alarms whose evaluation failed, and why
    last_evaluated: int | None = None

    def __post_init__(self):
        self._lock = threading.RLock()
        names = [a.name for a in self.metric_alarms] + [c.name for c in self.composites]
        if len(set(names)) != len(names):
            raise ValueError("alarm names must be unique")
        known = set(names)
        for c in self.composites:
            unknown = {_alarm_name(n) for n in rule_names(parse_rule(c.rule))} - known
            if unknown:
                raise ValueError(f"{c.name}: its rule names alarms the stack does not have: {sorted(unknown)}")
        if self.paging not in {c.name for c in self.composites}:
            raise ValueError(f"no composite alarm named {self.paging}")
        self._composite_order = _composite_order(self.composites)
        self.states = {n: State() for n in names}
        for alarm in self.metric_alarms:
            self.store.retain(alarm.period * (alarm.evaluation_periods + EXTRA_PERIODS))

    # -- when ---------------------------------------------------------------------------
    def evaluate_due(self) -> bool:
        """Evaluates at the latest CloudWatch minute of the store's clock, if not done yet."""
        minute = self.store.minute(self.store.clock.now())
        with self._lock:
            if self.last_evaluated is not None and minute <= self.last_evaluated:
                return False
            self.evaluate(minute * self.store.resolution)
            self.last_evaluated = minute
            return True

    def evaluate(self, at: float) -> None:
        with self._lock:
            self.before_evaluation(at)
            for alarm in self.metric_alarms:
                try:
                    self._evaluate_metric_alarm(alarm, at)
                except (metric_math.ExpressionError, KeyError, TypeError) as e:
                    # Visible, never silent: the alarm says why, and `errors` keeps it.
                    self.errors[alarm.name] = f"{type(e).__name__}: {e}"
                    self.states[alarm.name] = State(INSUFFICIENT, f"Cannot be evaluated locally: {e}", at)
            for composite in self._composite_order:
                self._evaluate_composite(composite, at)

    # -- metric alarms ------------------------------------------------------------------
    def datapoints(self, alarm: MetricAlarm, at: float) -> list[tuple[float, float | None]]:
        """(period start, value or None) for the evaluation range ending at `at`, oldest first."""
        span = alarm.period * (alarm.evaluation_periods + EXTRA_PERIODS)
        start = at - self.store.local_seconds(span)
        windows = self.store.windows(alarm.period, start, at)
        grid = [first * self.store.resolution for first, _ in windows]
        queries = {q.id: q for q in alarm.queries}
        values: dict[str, dict[float, float] | metric_math.Value] = {}  # a metric's datapoints, an expression's value

        def fetch(query_id: str):
            if query_id not in queries:
                raise metric_math.ExpressionError(f"{alarm.name}: no metric query {query_id}")
            if query_id not in values:
                q = queries[query_id]
                values[query_id] = (
                    self.store.query(q.metric, start, at).as_dict()
                    if q.metric
                    else metric_math.evaluate(  # a query without a metric has an expression (metric_alarm)
                        metric_math.parse(cast(str, q.expression)), grid, fetch, metric_ids, period_of, quota_of
                    )
                )
            return values[query_id]

        metric_ids = [q.id for q in alarm.queries if q.metric]

        def period_of(query_id: str) -> int:
            metric = queries[query_id].metric
            return metric.period if metric else alarm.period

        def quota_of(query_id: str) -> float | None:
            metric = queries[query_id].metric
            return self.quota(metric) if metric else None

        result = fetch(alarm.result.id)
        if isinstance(result, metric_math.TimeSeries):
            result = result.points
        if not isinstance(result, dict):
            raise metric_math.ExpressionError(f"{alarm.name}: the expression does not give one time series")
        return [(t, result[t] if t in result and math.isfinite(result[t]) else None) for t in grid]

    def _evaluate_metric_alarm(self, alarm: MetricAlarm, at: float) -> None:
        points = self.datapoints(alarm, at)
        compare = COMPARISONS[alarm.comparison]
        flags = [None if v is None else compare(v, alarm.threshold) for _, v in points]
        new = decide(flags, alarm.evaluation_periods, alarm.datapoints_to_alarm, alarm.treat_missing)
        state = self.states[alarm.name]
        if new is None:
            return  # `ignore`: the current state is kept
        reason = _reason(alarm, points, flags, new, self.store.scale)
        if new != state.value or reason != state.reason:
            self.states[alarm.name] = State(new, reason, at)

    # -- composites -----------------------------------------------------------------------
    def _evaluate_composite(self, composite: CompositeAlarm, at: float) -> None:
        tree = parse_rule(composite.rule)
        fired = evaluate_rule(tree, lambda n: self.states[_alarm_name(n)].value)
        new = ALARM if fired else OK
        in_alarm = sorted(n for n in rule_names(tree) if self.states[_alarm_name(n)].value == ALARM)
        reason = f"Rule evaluated to TRUE; in ALARM: {', '.join(in_alarm)}" if fired else "Rule evaluated to FALSE"
        if new != self.states[composite.name].value or reason != self.states[composite.name].reason:
            self.states[composite.name] = State(new, reason, at)

    # -- the contract -----------------------------------------------------------------------
    def severity(self, name: str) -> str:
        """A metric alarm's severity tag; a composite's own tag, else critical when it feeds
        the paging composite."""
        alarm = next((a for a in self.metric_alarms if a.name == name), None)
        if alarm is not None:
            return alarm.severity
        composite = next(c for c in self.composites if c.name == name)
        if composite.severity:
            return composite.severity
        paging = next(c for c in self.composites if c.name == self.paging)
        return "critical" if name in {_alarm_name(n) for n in rule_names(parse_rule(paging.rule))} else "warning"

    def snapshot(self) -> dict:
        with self._lock:
            alarms = [
                {
                    "name": a.name,
                    "severity": self.severity(a.name),
                    "state": self.states[a.name].value,
                    "reason": self.states[a.name].reason,
                    "runbook": a.runbook,
                }
                for a in self.metric_alarms
            ]
            alarms += [
                {
                    "name": c.name,
                    "severity": self.severity(c.name),
                    "state": self.states[c.name].value,
                    "reason": self.states[c.name].reason,
                    "runbook": c.runbook,
                }
                for c in self.composites
                if c.name != self.paging
            ]
            return {"alarms": alarms, "composite": {"name": self.paging, "state": self.states[self.paging].value}}


def _alarm_name(reference: str) -> str:
    """An alarm rule may name an alarm by its ARN (arn:aws:cloudwatch:region:account:alarm:name)."""
    return reference.split(":alarm:", 1)[1] if reference.startswith("arn:") and ":alarm:" in reference else reference


def _composite_order(composites: Sequence[CompositeAlarm]) -> list[CompositeAlarm]:
    """Composites that read other composites after them; a cycle is refused."""
    by_name = {c.name: c for c in composites}
    ordered, visiting, done = [], set(), set()

    def visit(c: CompositeAlarm):
        if c.name in done:
            return
        if c.name in visiting:
            raise ValueError(f"composite alarm {c.name} depends on itself")
        visiting.add(c.name)
        for n in rule_names(parse_rule(c.rule)):
            if _alarm_name(n) in by_name:
                visit(by_name[_alarm_name(n)])
        visiting.discard(c.name)
        done.add(c.name)
        ordered.append(c)

    for c in composites:
        visit(c)
    return ordered


def _reason(alarm: MetricAlarm, points: list, flags: list, state: str, scale: float) -> str:
    real = [(t, v) for (t, v) in points if v is not None]
    shown = ", ".join(f"{v:g}" for _, v in real[-alarm.evaluation_periods :])
    what = f"{alarm.datapoints_to_alarm} out of the last {alarm.evaluation_periods} datapoints"
    if not real:
        return (
            f"No datapoints in the last {len(points)} periods of {alarm.period} s "
            f"({alarm.period * scale:g} s locally); missing data treated as {alarm.treat_missing}: {state}"
        )
    breaching = sum(bool(f) for f in flags if f is not None)
    verb = "crossed" if state == ALARM else "not crossed"
    return (
        f"Threshold {verb}: {breaching} of the datapoints [{shown}] {'were' if breaching != 1 else 'was'} "
        f"{_SYMBOL[alarm.comparison]} the threshold ({alarm.threshold:g}); {what} must breach "
        f"(period {alarm.period} s, {alarm.period * scale:g} s locally)"
    )


def from_program(resources, store: MetricStore, paging: str, **kwargs) -> AlarmEngine:
    """The engine for the alarms a program run declared (`RecordingMocks.of_type`)."""
    metric_alarms = tuple(metric_alarm(r.inputs) for r in resources("aws:cloudwatch/metricAlarm:MetricAlarm"))
    composites = tuple(composite_alarm(r.inputs) for r in resources("aws:cloudwatch/compositeAlarm:CompositeAlarm"))
    return AlarmEngine(store, metric_alarms, composites, paging, **kwargs)
