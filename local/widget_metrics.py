"""The `metrics` array of a CloudWatch metric widget, read as CloudWatch reads it.

https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html
("Metric Widget: Format for Each Metric in the Array"): each entry is either

- `[Namespace, MetricName, DimName1, DimValue1, ..., {rendering options}?]`, or
- `[{"expression": "...", "id"?, "label"?, ...}]`, a metric math or SEARCH expression.

The console writes entries in shorthand, resolved against the previous metric entry:

- `"."` at a position: the previous metric's value at that position
  (`[".", "Errors", ".", "."]` is the previous metric with another name);
- `"..."`: every value of the previous metric not given around it, so
  `["...", "i-abc"]` is the previous metric with its last value replaced and
  `["AWS/EC2", "...", "i-abc"]` keeps its middle. Rendering options are never
  inherited: each entry has its own.

Entries without an `id` get the ones the console shows for them, `m1`, `m2`, ... for
metrics and `e1`, `e2`, ... for expressions, numbered by position in the array, so an
expression can refer to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

SAME = "."
REST = "..."


class MetricsArrayError(ValueError):
    """An entry CloudWatch would refuse (the dashboard shows an error for the widget)."""


@dataclass(frozen=True)
class MetricEntry:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]  # in the order written
    options: dict = field(default_factory=dict)
    id: str = ""

    @property
    def values(self) -> list[str]:
        return [self.namespace, self.name, *(v for pair in self.dimensions for v in pair)]


@dataclass(frozen=True)
class ExpressionEntry:
    expression: str
    options: dict = field(default_factory=dict)
    id: str = ""


Entry = MetricEntry | ExpressionEntry


def _value(item: object, index: int) -> str:
    if isinstance(item, bool) or not isinstance(item, (str, int, float)):
        raise MetricsArrayError(f"value {index + 1} of a metric must be a string, not {item!r}")
    return str(item)


def expand(values: list[str], previous: list[str] | None) -> list[str]:
    """`values` with "..." and "." replaced from `previous` (the last metric's values)."""
    if REST in values:
        if values.count(REST) > 1:
            raise MetricsArrayError('"..." may appear once in a metric entry')
        if previous is None:
            raise MetricsArrayError('"..." needs a metric entry before it')
        at = values.index(REST)
        before, after = values[:at], values[at + 1 :]
        if len(before) + len(after) > len(previous):
            raise MetricsArrayError(f'"..." in {values} gives more values than the previous metric {previous} has')
        values = before + previous[len(before) : len(previous) - len(after)] + after
    out = []
    for i, v in enumerate(values):
        if v == SAME:
            if previous is None or i >= len(previous):
                raise MetricsArrayError(f'"." at position {i + 1} has no previous metric value to repeat')
            v = previous[i]
        out.append(v)
    return out


def resolve(metrics: object) -> list[Entry]:
    """The widget's `metrics` array as entries, shorthand resolved and ids assigned."""
    if not isinstance(metrics, list):
        raise MetricsArrayError("`metrics` must be an array of arrays")
    entries: list[Entry] = []
    previous: list[str] | None = None
    for n, raw in enumerate(metrics, start=1):
        if not isinstance(raw, list) or not raw:
            raise MetricsArrayError(f"metrics entry {n} must be a non-empty array")
        if isinstance(raw[0], dict):
            options = dict(raw[0])
            if len(raw) != 1 or not isinstance(options.get("expression"), str) or not options["expression"].strip():
                raise MetricsArrayError(f'metrics entry {n}: an expression entry is [{{"expression": "...", ...}}]')
            entries.append(ExpressionEntry(options.pop("expression"), options))
            continue
        options = {}
        if isinstance(raw[-1], dict):
            options = dict(raw[-1])
            raw = raw[:-1]
        values = expand([_value(v, i) for i, v in enumerate(raw)], previous)
        if len(values) < 2 or len(values) % 2:
            raise MetricsArrayError(
                f"metrics entry {n}: {values} is not namespace, metric name and dimension name/value pairs"
            )
        pairs = tuple((values[i], values[i + 1]) for i in range(2, len(values), 2))
        if len({name for name, _ in pairs}) != len(pairs):
            raise MetricsArrayError(f"metrics entry {n}: a dimension is named twice in {values}")
        entries.append(MetricEntry(values[0], values[1], pairs, options))
        previous = values
    return _with_ids(entries)


def _with_ids(entries: list[Entry]) -> list[Entry]:
    given = [e.options.get("id") for e in entries if e.options.get("id")]
    if len(set(given)) != len(given):
        raise MetricsArrayError(f"metric ids must be unique: {given}")
    taken, out = set(given), []
    for position, entry in enumerate(entries, start=1):
        wanted = entry.options.get("id")
        if not wanted:
            prefix = "m" if isinstance(entry, MetricEntry) else "e"
            wanted, k = f"{prefix}{position}", position
            while wanted in taken:
                k += 1
                wanted = f"{prefix}{k}"
            taken.add(wanted)
        elif not isinstance(wanted, str) or not wanted[:1].islower():
            raise MetricsArrayError(f"metric id {wanted!r} must start with a lowercase letter")
        out.append(replace(entry, id=wanted))
    return out
