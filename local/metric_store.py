"""The local stack's CloudWatch metrics: one in-process store, bounded in memory.

What CloudWatch would receive is put here (local/telemetry.py records AWS/Lambda,
AWS/ApiGateway, AWS/DynamoDB, AWS/Usage, AWS/Bedrock, AWS/SQS and AWS/S3 at the
boundaries the functions really use; local/emf.py parses the functions' EMF output),
and the alarms (local/alarms.py) and dashboards read it back.

Time. The store has its own clock (`store.clock`): the wall clock, unless a test sets
it (`clock.set(t)`, `clock.advance(dt)`, `clock.release()`), so that which period a
datapoint falls in never depends on how fast the machine is. Every datapoint is
stamped with that clock when it is put (a function's EMF line is written when the
function emits it). Locally a CloudWatch period lasts `period * scale` seconds, where
`scale = SERENYA_LOCAL_PERIOD_S / 300` (default 10 / 300: a 300 s period lasts 10 s, a
3600 s period 120 s). Datapoints are kept in buckets of one CloudWatch minute (60 s,
CloudWatch's standard resolution, so `60 * scale` local seconds), and every period a
query or an alarm asks for is a whole number of minutes.

Bounds. Each bucket keeps count, sum, minimum, maximum and a log-bucketed histogram of
its values (relative accuracy 1%: a percentile is within 1% of the true value, clamped
to the bucket's minimum and maximum). Buckets older than `retention_s` CloudWatch
seconds are dropped, and the whole store holds at most `max_cells` cells (a bucket
counts one cell plus one per histogram bin): past that the oldest buckets go first.
`memory()` reports series, buckets, cells and bytes.

Query API (times in store seconds, i.e. `clock.now()` units; periods in CloudWatch seconds):

- `get_metric_data(namespace, name, dimensions, statistic, period, start, end)` ->
  `Series` (timestamps, values): one value per period from `start` (aligned down to a
  minute) while the period starts before `end`, labelled with the period's start;
  periods without data are absent, as in CloudWatch. Statistics: SampleCount, Sum,
  Average, Minimum, Maximum, pNN[.N], tmNN, wmNN, tcNN, tsNN, IQM, TM(a%:b%),
  WM(a%:b%), TC(a%:b%), TS(a%:b%), PR(n:m)
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Statistics-definitions.html).
- `metric_math(expression, metrics, period, start, end)` -> `Series`: a metric math
  expression (local/metric_math.py) over `metrics` = {id: MetricStat}.
- `list_metrics(namespace=None, name=None)` -> [(namespace, name, dimensions)].
- `put(namespace, name, dimensions, value, unit=None)` and `put_values(...)` to record.
"""

from __future__ import annotations

import collections
import math
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

MINUTE = 60  # CloudWatch's standard resolution, in CloudWatch seconds
DEFAULT_LOCAL_PERIOD_S = 10  # how long a 300 s period lasts locally
ALPHA = 0.01  # relative accuracy of the percentile histogram
GAMMA = (1 + ALPHA) / (1 - ALPHA)
LOG_GAMMA = math.log(GAMMA)
TINY = 1e-9  # values closer to zero count as zero
DEFAULT_RETENTION_S = 3 * 3600  # a dashboard's default range; alarms may ask for more
DEFAULT_MAX_CELLS = 200_000


class Clock:
    """The store's time: the wall clock unless set."""

    def __init__(self):
        self._fixed: float | None = None
        self._lock = threading.Lock()

    def now(self) -> float:
        fixed = self._fixed
        return time.time() if fixed is None else fixed

    def set(self, t: float) -> None:
        with self._lock:
            self._fixed = float(t)

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._fixed = (time.time() if self._fixed is None else self._fixed) + seconds
            return self._fixed

    def release(self) -> None:
        with self._lock:
            self._fixed = None

    @property
    def driven(self) -> bool:
        return self._fixed is not None


def local_scale(period_s: str | float | None = None) -> float:
    """SERENYA_LOCAL_PERIOD_S / 300: how much shorter a CloudWatch period is locally."""
    value = DEFAULT_LOCAL_PERIOD_S if period_s in (None, "") else float(period_s)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"SERENYA_LOCAL_PERIOD_S must be a positive number of seconds, not {period_s!r}")
    return value / 300


class Bucket:
    """One minute of one metric: count, sum, min, max and a histogram of the values."""

    __slots__ = ("count", "total", "low", "high", "positive", "negative", "zeros")

    def __init__(self):
        self.count, self.total = 0, 0.0
        self.low, self.high = math.inf, -math.inf
        self.positive: dict[int, int] = {}  # bin k holds values in (GAMMA^(k-1), GAMMA^k]
        self.negative: dict[int, int] = {}  # the same for -value
        self.zeros = 0

    @property
    def cells(self) -> int:
        return 1 + len(self.positive) + len(self.negative)

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.low, self.high = min(self.low, value), max(self.high, value)
        if abs(value) < TINY:
            self.zeros += 1
        else:
            bins = self.positive if value > 0 else self.negative
            k = math.ceil(math.log(abs(value)) / LOG_GAMMA)
            bins[k] = bins.get(k, 0) + 1

    def merge(self, other: Bucket) -> None:
        self.count += other.count
        self.total += other.total
        self.low, self.high = min(self.low, other.low), max(self.high, other.high)
        self.zeros += other.zeros
        for mine, theirs in ((self.positive, other.positive), (self.negative, other.negative)):
            for k, n in theirs.items():
                mine[k] = mine.get(k, 0) + n

    def ranked(self) -> list[tuple[float, int]]:
        """(representative value, count) in ascending order, each within ALPHA of its values."""
        rep = lambda k: 2 * GAMMA**k / (GAMMA + 1)  # noqa: E731 - the bin's midpoint in relative terms
        out = [(min(self.high, max(self.low, -rep(k))), n) for k, n in sorted(self.negative.items(), reverse=True)]
        if self.zeros:
            out.append((0.0, self.zeros))
        out += [(min(self.high, max(self.low, rep(k))), n) for k, n in sorted(self.positive.items())]
        return out


# -- statistics ------------------------------------------------------------------------

Statistic = Callable[[Bucket], float | None]
_NUMBER = r"(\d+(?:\.\d+)?)"


def _rank_slice(bucket: Bucket, low_pct: float, high_pct: float) -> list[tuple[float, int]]:
    """The values whose rank lies in (low_pct, high_pct] of the bucket, as (value, count)."""
    n = bucket.count
    first, last = math.floor(low_pct * n / 100 + 1e-9), math.ceil(high_pct * n / 100 - 1e-9)
    out, seen = [], 0
    for value, count in bucket.ranked():
        lo, hi = max(seen, first), min(seen + count, last)
        if hi > lo:
            out.append((value, hi - lo))
        seen += count
    return out


def _nearest_rank(q: float, b: Bucket) -> float:
    """Percentile q of a bucket that holds values (b.count > 0)."""
    if q >= 100:
        return b.high
    if q <= 0:
        return b.low
    rank, seen = max(1, math.ceil(q * b.count / 100 - 1e-9)), 0  # nearest rank
    if rank == b.count:  # the extremes are known exactly
        return b.high
    if rank == 1:
        return b.low
    for value, count in b.ranked():
        seen += count
        if seen >= rank:
            return value
    return b.high


def _percentile(q: float) -> Statistic:
    def stat(b: Bucket) -> float | None:
        if not b.count:
            return None
        return _nearest_rank(q, b)

    return stat


def _trimmed(kind: str, low: float, high: float) -> Statistic:
    def stat(b: Bucket) -> float | None:
        if not b.count:
            return None
        kept = _rank_slice(b, low, high)
        count = sum(c for _, c in kept)
        total = sum(v * c for v, c in kept)
        if kind == "TC":
            return float(count)
        if kind == "TS":
            return total
        if kind == "TM":
            return total / count if count else None
        # WM: values below the low percentile count as it, above the high one as it.
        floor_v, ceil_v = _nearest_rank(low, b), _nearest_rank(high, b)
        below = math.floor(low * b.count / 100 + 1e-9)
        above = b.count - math.ceil(high * b.count / 100 - 1e-9)
        return (total + below * floor_v + above * ceil_v) / b.count

    return stat


def _percentile_rank(low: float | None, high: float | None) -> Statistic:
    def stat(b: Bucket) -> float | None:
        if not b.count:
            return None
        inside = sum(c for v, c in b.ranked() if (low is None or v > low) and (high is None or v <= high))
        return 100.0 * inside / b.count

    return stat


_BASIC: dict[str, Statistic] = {
    "SampleCount": lambda b: float(b.count) if b.count else None,
    "Sum": lambda b: b.total if b.count else None,
    "Average": lambda b: b.total / b.count if b.count else None,
    "Minimum": lambda b: b.low if b.count else None,
    "Maximum": lambda b: b.high if b.count else None,
}


def statistic(name: str) -> Statistic:
    """The function computing CloudWatch statistic `name` over a bucket; ValueError if unknown."""
    if name in _BASIC:
        return _BASIC[name]
    if name == "IQM":
        return _trimmed("TM", 25, 75)
    m = re.fullmatch(rf"p{_NUMBER}", name)
    if m:
        return _percentile(float(m.group(1)))
    m = re.fullmatch(rf"(tm|wm|tc|ts){_NUMBER}", name)
    if m:
        return _trimmed(m.group(1).upper(), 0, float(m.group(2)))
    m = re.fullmatch(rf"(TM|WM|TC|TS)\(\s*(?:{_NUMBER}%)?\s*:\s*(?:{_NUMBER}%)?\s*\)", name)
    if m:
        return _trimmed(m.group(1), float(m.group(2) or 0), float(m.group(3) or 100))
    m = re.fullmatch(r"PR\(\s*(-?[\d.]+)?\s*:\s*(-?[\d.]+)?\s*\)", name)
    if m:
        return _percentile_rank(*(None if g is None else float(g) for g in m.groups()))
    raise ValueError(f"unknown CloudWatch statistic {name!r}")


# -- series ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """A time series as CloudWatch returns it: ascending timestamps, no missing values."""

    timestamps: tuple[float, ...] = ()
    values: tuple[float, ...] = ()

    def as_dict(self) -> dict[float, float]:
        return dict(zip(self.timestamps, self.values, strict=True))

    @classmethod
    def from_dict(cls, points: Mapping[float, float]) -> Series:
        ordered = sorted(points.items())
        return cls(tuple(t for t, _ in ordered), tuple(v for _, v in ordered))


@dataclass(frozen=True)
class MetricStat:
    """One metric with its statistic and period (CloudWatch's MetricStat)."""

    namespace: str
    name: str
    dimensions: Mapping[str, str]
    statistic: str
    period: int  # CloudWatch seconds

    def __post_init__(self):
        statistic(self.statistic)  # refuses an unknown one now, not at the first evaluation
        if self.period <= 0 or self.period % MINUTE:
            raise ValueError(
                f"period {self.period}: the local store keeps one-minute resolution, so a period "
                f"must be a multiple of 60 s (high-resolution alarms are not emulated)"
            )


def _key(namespace: str, name: str, dimensions: Mapping[str, str]) -> tuple:
    return namespace, name, tuple(sorted((str(k), str(v)) for k, v in dimensions.items()))


class MetricStore:
    def __init__(
        self,
        scale: float = DEFAULT_LOCAL_PERIOD_S / 300,
        clock: Clock | None = None,
        retention_s: float = DEFAULT_RETENTION_S,
        max_cells: int = DEFAULT_MAX_CELLS,
    ):
        self.scale = scale
        self.clock = clock or Clock()
        self.resolution = MINUTE * scale  # one CloudWatch minute, in store seconds
        self.retention_s = retention_s
        self.max_cells = max_cells
        self.units: dict[tuple, str] = {}
        self._series: dict[tuple, dict[int, Bucket]] = {}
        self._order: collections.deque[tuple[int, tuple]] = collections.deque()  # (minute, key), oldest first
        self._cells = 0
        self._lock = threading.RLock()

    # -- time ------------------------------------------------------------------------
    def minute(self, t: float) -> int:
        """The index of the one-minute bucket holding store time `t`."""
        return math.floor(t / self.resolution + 1e-9)

    def local_seconds(self, cloudwatch_seconds: float) -> float:
        return cloudwatch_seconds * self.scale

    def retain(self, cloudwatch_seconds: float) -> None:
        """Keeps at least this much history (the alarms ask for their evaluation ranges)."""
        with self._lock:
            self.retention_s = max(self.retention_s, cloudwatch_seconds)

    # -- recording -------------------------------------------------------------------
    def put(
        self,
        namespace: str,
        name: str,
        dimensions: Mapping[str, str],
        value: float,
        unit: str | None = None,
        timestamp: float | None = None,
    ) -> None:
        self.put_values(namespace, name, dimensions, (value,), unit, timestamp)

    def put_values(
        self,
        namespace: str,
        name: str,
        dimensions: Mapping[str, str],
        values: Iterable[float],
        unit: str | None = None,
        timestamp: float | None = None,
    ) -> None:
        values = [float(v) for v in values]
        if not values or not all(math.isfinite(v) for v in values):
            raise ValueError(f"{namespace} {name}: values must be finite numbers")
        key = _key(namespace, name, dimensions)
        minute = self.minute(self.clock.now() if timestamp is None else timestamp)
        with self._lock:
            buckets = self._series.setdefault(key, {})
            bucket = buckets.get(minute)
            if bucket is None:
                bucket = buckets[minute] = Bucket()
                self._order.append((minute, key))
                before = 0
            else:
                before = bucket.cells
            for v in values:
                bucket.add(v)
            self._cells += bucket.cells - before
            if unit:
                self.units[key] = unit
            self._trim(minute)

    def _trim(self, newest: int) -> None:
        oldest_kept = newest - math.ceil(self.retention_s / MINUTE)
        while self._order and (self._cells > self.max_cells or self._order[0][0] < oldest_kept):
            minute, key = self._order.popleft()
            buckets = self._series.get(key)
            bucket = buckets.pop(minute, None) if buckets is not None else None
            if bucket is not None:
                self._cells -= bucket.cells
            if buckets is not None and not buckets:
                del self._series[key]
                self.units.pop(key, None)

    # -- reading ---------------------------------------------------------------------
    def list_metrics(self, namespace: str | None = None, name: str | None = None) -> list[tuple]:
        with self._lock:
            keys = list(self._series)
        return [
            (ns, n, dict(dims))
            for ns, n, dims in sorted(keys)
            if (namespace is None or ns == namespace) and (name is None or n == name)
        ]

    def windows(self, period: int, start: float, end: float) -> list[tuple[int, int]]:
        """Periods as [first minute, last minute + 1) from `start` (aligned down) to `end`."""
        minutes = period // MINUTE
        first, stop = self.minute(start), self.minute(end)
        return [(m, m + minutes) for m in range(first, stop, minutes)]

    def _aggregate(self, key: tuple, first: int, stop: int) -> Bucket:
        merged = Bucket()
        with self._lock:
            buckets = self._series.get(key, {})
            for m in range(first, stop):
                b = buckets.get(m)
                if b is not None:
                    merged.merge(b)
        return merged

    def get_metric_data(
        self, namespace: str, name: str, dimensions: Mapping[str, str], stat: str, period: int, start: float, end: float
    ) -> Series:
        return self.query(MetricStat(namespace, name, dimensions, stat, period), start, end)

    def query(self, metric: MetricStat, start: float, end: float) -> Series:
        compute, key = statistic(metric.statistic), _key(metric.namespace, metric.name, metric.dimensions)
        points = {}
        for first, stop in self.windows(metric.period, start, end):
            value = compute(self._aggregate(key, first, stop))
            if value is not None:
                points[first * self.resolution] = value
        return Series.from_dict(points)

    def metric_math(
        self,
        expression: str,
        metrics: Mapping[str, MetricStat],
        period: int,
        start: float,
        end: float,
        quotas: Callable[[MetricStat], float | None] | None = None,
    ) -> Series:
        from local import metric_math

        def fetch(metric_id: str) -> dict:
            if metric_id not in metrics:
                raise metric_math.ExpressionError(f"{metric_id} is not a metric of this query")
            return self.query(metrics[metric_id], start, end).as_dict()

        grid = [first * self.resolution for first, _ in self.windows(period, start, end)]
        result = metric_math.evaluate(
            metric_math.parse(expression),
            grid,
            fetch=fetch,
            ids=list(metrics),
            period_of=lambda i: metrics[i].period,
            quota_of=(lambda i: quotas(metrics[i])) if quotas else (lambda i: None),
        )
        if not isinstance(result, metric_math.TimeSeries):
            raise metric_math.ExpressionError(f"{expression!r} does not give one time series")
        return Series.from_dict({t: v for t, v in result.points.items() if math.isfinite(v)})

    # -- size ------------------------------------------------------------------------
    def memory(self) -> dict[str, int]:
        """Series, buckets, cells and bytes held (sys.getsizeof over the store's own objects)."""
        with self._lock:
            size = sys.getsizeof(self._series) + sys.getsizeof(self._order) + sys.getsizeof(self.units)
            buckets = 0
            for key, series in self._series.items():
                size += sys.getsizeof(key) + sum(sys.getsizeof(part) for part in key[:2])
                size += sum(sys.getsizeof(pair) + sys.getsizeof(pair[0]) + sys.getsizeof(pair[1]) for pair in key[2])
                size += sys.getsizeof(series)
                for bucket in series.values():
                    buckets += 1
                    size += (
                        sys.getsizeof(bucket)
                        + sys.getsizeof(bucket.positive)
                        + sys.getsizeof(bucket.negative)
                        + 28 * (bucket.cells - 1)
                    )  # an int count per bin; keys are small cached ints mostly
            size += sum(sys.getsizeof(entry) for entry in self._order)
            return {"series": len(self._series), "buckets": buckets, "cells": self._cells, "bytes": size}
