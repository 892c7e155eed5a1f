"""CloudWatch metric math, evaluated on the local metric store.

`parse(text)` gives a syntax tree (ExpressionError for anything CloudWatch would refuse
or this module does not know: a new function fails loudly when the stack starts, never
silently at evaluation); `evaluate(tree, grid, fetch, ...)` computes it over `grid`,
the start times of the query's periods. Semantics from
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html:

- Values are scalars (S), time series (TS) or arrays of time series (TS[]).
- Arithmetic `+ - * / ^` and unary minus: between two time series, "missing values in
  a time series are treated as 0" (over the timestamps either has); "if the value of a
  data point causes a function to attempt to divide by zero, the data point is dropped".
- Comparison `== != <= >= < >` and logical `AND && OR ||` give 1 or 0 per datapoint;
  between two time series "the function treats the missing value in the other time
  series as 0".
- Functions: ABS, CEIL, FLOOR, LOG, LOG10, DIFF, RATE, RUNNING_SUM (per datapoint);
  MIN, MAX, SUM, AVG, STDDEV, DATAPOINT_COUNT (a scalar over one time series, a time
  series over an array: SUM and AVG treat missing values as 0, MIN and MAX ignore
  them); FILL(m, S | TS | REPEAT | LINEAR) over every period of the query; IF(cond,
  a[, b]) with the documented cases; METRICS(["filter"]), METRIC_COUNT, FIRST, LAST,
  REMOVE_EMPTY, TIME_SERIES(S), PERIOD(m) (the metric's period in CloudWatch seconds),
  SERVICE_QUOTA(m) (the quota the local stack assumes for a usage metric).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast


class ExpressionError(ValueError):
    """An expression CloudWatch would refuse, or that this evaluator does not know."""


@dataclass
class TimeSeries:
    points: dict[float, float]


# -- lexer ------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""
    \s*(?:
      (?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)
    | (?P<string>"[^"]*"|“[^”]*”)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>==|!=|<=|>=|&&|\|\||[-+*/^<>(),\[\]])
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExpressionError(f"cannot read {text[pos : pos + 20]!r} in {text!r}")
        kind = cast(str, m.lastgroup)  # a match is one of the named alternatives
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


# -- syntax tree ------------------------------------------------------------------------
@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Ref:
    id: str


@dataclass(frozen=True)
class Str:
    value: str


@dataclass(frozen=True)
class Keyword:
    word: str  # REPEAT, LINEAR


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple


@dataclass(frozen=True)
class Array:
    items: tuple


@dataclass(frozen=True)
class Unary:
    op: str
    operand: object


@dataclass(frozen=True)
class Binary:
    op: str
    left: object
    right: object


# What a node evaluates to. A string or a keyword is only a function's argument (METRICS'
# filter, FILL's REPEAT and LINEAR): as an operand it is a TypeError (_scalar).
Value = float | TimeSeries | list | str | Keyword


FUNCTIONS = {
    "ABS",
    "CEIL",
    "FLOOR",
    "LOG",
    "LOG10",
    "DIFF",
    "RATE",
    "RUNNING_SUM",
    "MIN",
    "MAX",
    "SUM",
    "AVG",
    "STDDEV",
    "DATAPOINT_COUNT",
    "FILL",
    "IF",
    "METRICS",
    "METRIC_COUNT",
    "FIRST",
    "LAST",
    "REMOVE_EMPTY",
    "TIME_SERIES",
    "PERIOD",
    "SERVICE_QUOTA",
}
KEYWORDS = {"REPEAT", "LINEAR"}
_COMPARISONS = ("==", "!=", "<=", ">=", "<", ">")


class _Parser:
    def __init__(self, text: str):
        self.text, self.tokens, self.i = text, _tokens(text), 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if value is not None and token[1] != value:
            raise ExpressionError(f"expected {value!r} but found {token[1] or 'the end'!r} in {self.text!r}")
        if token[0] == "end":
            raise ExpressionError(f"{self.text!r} ends too early")
        self.i += 1
        return token

    def parse(self):
        if not self.tokens:
            raise ExpressionError("empty expression")
        tree = self.logical_or()
        if self.peek()[0] != "end":
            raise ExpressionError(f"unexpected {self.peek()[1]!r} in {self.text!r}")
        return tree

    def logical_or(self):
        left = self.logical_and()
        while self.peek()[1] in ("OR", "||"):
            self.take()
            left = Binary("OR", left, self.logical_and())
        return left

    def logical_and(self):
        left = self.comparison()
        while self.peek()[1] in ("AND", "&&"):
            self.take()
            left = Binary("AND", left, self.comparison())
        return left

    def comparison(self):
        left = self.additive()
        while self.peek()[1] in _COMPARISONS:
            left = Binary(self.take()[1], left, self.additive())
        return left

    def additive(self):
        left = self.multiplicative()
        while self.peek()[1] in ("+", "-"):
            left = Binary(self.take()[1], left, self.multiplicative())
        return left

    def multiplicative(self):
        left = self.unary()
        while self.peek()[1] in ("*", "/"):
            left = Binary(self.take()[1], left, self.unary())
        return left

    def unary(self):
        if self.peek()[1] == "-":
            self.take()
            return Unary("-", self.unary())
        if self.peek()[1] == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self):
        base = self.atom()
        if self.peek()[1] == "^":
            self.take()
            return Binary("^", base, self.unary())  # right-associative
        return base

    def atom(self):
        kind, value = self.take()
        if kind == "number":
            return Num(float(value))
        if kind == "string":
            return Str(value[1:-1])
        if value == "(":
            inner = self.logical_or()
            self.take(")")
            return inner
        if value == "[":
            items = [self.logical_or()]
            while self.peek()[1] == ",":
                self.take()
                items.append(self.logical_or())
            self.take("]")
            return Array(tuple(items))
        if kind == "name":
            if self.peek()[1] == "(":
                if value not in FUNCTIONS:
                    raise ExpressionError(f"unknown metric math function {value} in {self.text!r}")
                self.take("(")
                args = []
                if self.peek()[1] != ")":
                    args.append(self.logical_or())
                    while self.peek()[1] == ",":
                        self.take()
                        args.append(self.logical_or())
                self.take(")")
                return Call(value, tuple(args))
            if value in KEYWORDS:
                return Keyword(value)
            if not value[0].islower():
                raise ExpressionError(f"{value}: metric ids start with a lowercase letter ({self.text!r})")
            return Ref(value)
        raise ExpressionError(f"unexpected {value!r} in {self.text!r}")


def parse(text: str):
    return _Parser(text).parse()


def references(tree) -> set[str]:
    """The metric and expression ids an expression reads."""
    if isinstance(tree, Ref):
        return {tree.id}
    children = {
        Unary: lambda t: (t.operand,),
        Binary: lambda t: (t.left, t.right),
        Call: lambda t: t.args,
        Array: lambda t: t.items,
    }.get(type(tree), lambda t: ())(tree)
    return set().union(*(references(c) for c in children)) if children else set()


# -- evaluation -------------------------------------------------------------------------
class _Context:
    def __init__(
        self,
        grid: Sequence[float],
        fetch: Callable[[str], dict],
        ids: Sequence[str],
        period_of: Callable[[str], int],
        quota_of: Callable[[str], float | None],
    ):
        self.grid, self.ids = list(grid), list(ids)
        self._fetch, self.period_of, self.quota_of = fetch, period_of, quota_of
        self._cache: dict[str, TimeSeries] = {}

    def series(self, metric_id: str) -> TimeSeries:
        if metric_id not in self._cache:
            fetched = self._fetch(metric_id)  # a metric's datapoints, or another expression's value
            self._cache[metric_id] = fetched if isinstance(fetched, (TimeSeries, list)) else TimeSeries(dict(fetched))
        return self._cache[metric_id]


def evaluate(
    tree,
    grid: Sequence[float],
    fetch: Callable[[str], dict],
    ids: Sequence[str],
    period_of: Callable[[str], int] = lambda _: 60,
    quota_of: Callable[[str], float | None] = lambda _: None,
) -> Value:
    """The value of `tree` over `grid` (period start times); `fetch(id)` gives a metric's
    datapoints as {timestamp: value}, or the value of the expression with that id."""
    return _eval(tree, _Context(grid, fetch, ids, period_of, quota_of))


def _finite(v: float) -> bool:
    return v is not None and math.isfinite(v)


def _series(points: dict) -> TimeSeries:
    return TimeSeries({t: v for t, v in points.items() if _finite(v)})


def _apply(op: str, a: float, b: float) -> float | None:
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return None if b == 0 else a / b  # dropped, as CloudWatch drops it
        if op == "^":
            return float(a**b) if not (a < 0 and b != int(b)) else None
        if op == "==":
            return float(a == b)
        if op == "!=":
            return float(a != b)
        if op == "<=":
            return float(a <= b)
        if op == ">=":
            return float(a >= b)
        if op == "<":
            return float(a < b)
        if op == ">":
            return float(a > b)
        if op == "AND":
            return float(bool(a) and bool(b))
        if op == "OR":
            return float(bool(a) or bool(b))
    except (OverflowError, ZeroDivisionError):
        return None
    raise ExpressionError(f"unknown operator {op}")


def _scalar(value: float | str | Keyword) -> float:
    """A number operand; a string or keyword is a function's argument only."""
    if isinstance(value, (str, Keyword)):
        raise TypeError(f"{value!r} is not a number or a time series")
    return value


def _binary(op: str, left: Value, right: Value) -> Value:
    if isinstance(left, list):
        return [_binary(op, item, right) for item in left]
    if isinstance(right, list):
        return [_binary(op, left, item) for item in right]
    if isinstance(left, TimeSeries):
        if isinstance(right, TimeSeries):
            stamps = set(left.points) | set(right.points)
            return _series({t: _apply(op, left.points.get(t, 0.0), right.points.get(t, 0.0)) for t in stamps})
        return _series({t: _apply(op, v, _scalar(right)) for t, v in left.points.items()})
    if isinstance(right, TimeSeries):
        return _series({t: _apply(op, _scalar(left), v) for t, v in right.points.items()})
    result = _apply(op, _scalar(left), _scalar(right))
    return math.nan if result is None else result


def _map(value: Value, f: Callable[[float], float]) -> Value:
    if isinstance(value, list):
        return [_map(v, f) for v in value]
    if isinstance(value, TimeSeries):
        out = {}
        for t, v in value.points.items():
            try:
                out[t] = f(v)
            except (ValueError, OverflowError):
                continue  # LOG of a non-positive value: no datapoint
        return _series(out)
    return f(_scalar(value))


def _reduce_series(name: str, values: list[float]) -> float:
    if name == "DATAPOINT_COUNT":
        return float(len(values))
    if not values:
        return math.nan
    if name == "MIN":
        return min(values)
    if name == "MAX":
        return max(values)
    if name == "SUM":
        return sum(values)
    if name == "AVG":
        return sum(values) / len(values)
    if name == "STDDEV":
        mean = sum(values) / len(values)
        return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    raise ExpressionError(name)


def _reduce_array(name: str, items: list) -> TimeSeries:
    series = [i for i in items if isinstance(i, TimeSeries)]
    scalars = [i for i in items if not isinstance(i, (TimeSeries, list))]
    if any(isinstance(i, list) for i in items):
        raise ExpressionError(f"{name}: nested arrays")
    stamps = set().union(*(s.points for s in series)) if series else set()
    out = {}
    for t in stamps:
        present = [s.points[t] for s in series if t in s.points] + scalars
        if name in ("SUM", "AVG"):  # missing values count as 0
            filled = [s.points.get(t, 0.0) for s in series] + scalars
            out[t] = sum(filled) / (len(filled) if name == "AVG" else 1)
        elif name == "DATAPOINT_COUNT":
            out[t] = float(len([s for s in series if t in s.points]))
        else:
            out[t] = _reduce_series(name, present)
    return _series(out)


def _fill(ctx: _Context, series: TimeSeries, how: Value) -> TimeSeries:
    points = dict(series.points)
    if isinstance(how, Keyword) and how.word == "REPEAT":
        last = None
        for t in ctx.grid:
            if t in points:
                last = points[t]
            elif last is not None:
                points[t] = last
        return TimeSeries(points)
    if isinstance(how, Keyword) and how.word == "LINEAR":
        known = [t for t in ctx.grid if t in points]
        for t in ctx.grid:
            if t in points:
                continue
            before = [k for k in known if k < t]
            after = [k for k in known if k > t]
            if before and after:
                a, b = before[-1], after[0]
                points[t] = points[a] + (points[b] - points[a]) * (t - a) / (b - a)
        return TimeSeries(points)
    for t in ctx.grid:
        if t not in points:
            if isinstance(how, TimeSeries):
                if t in how.points:
                    points[t] = how.points[t]
            elif isinstance(how, float):
                if math.isfinite(how):
                    points[t] = how
            else:
                raise ExpressionError("FILL takes a number, a time series, REPEAT or LINEAR")
    return TimeSeries(points)


def _if(condition: Value, yes: Value, no: Value | None) -> Value:
    """IF as documented in "Using IF expressions"."""
    if isinstance(condition, list):
        raise ExpressionError("IF on an array")
    if not isinstance(condition, TimeSeries):
        if condition:
            return yes
        return no if no is not None else TimeSeries({})
    out = {}
    for t, c in condition.points.items():
        if c:
            out[t] = yes.points.get(t, 0.0) if isinstance(yes, TimeSeries) else yes
        elif no is None:
            continue
        elif isinstance(no, TimeSeries):
            if t in no.points:
                out[t] = no.points[t]
        else:
            out[t] = no
    return _series(out)


def _arg_id(call: Call, index: int = 0) -> str:
    if len(call.args) <= index or not isinstance(call.args[index], Ref):
        raise ExpressionError(f"{call.function} takes a metric id")
    return call.args[index].id


def _call(call: Call, ctx: _Context) -> Value:
    name, args = call.function, call.args
    if name == "METRICS":
        wanted = _eval(args[0], ctx) if args else ""
        if not isinstance(wanted, str):
            raise ExpressionError("METRICS takes a string")
        return [ctx.series(i) for i in ctx.ids if wanted in i]
    if name == "PERIOD":
        return float(ctx.period_of(_arg_id(call)))
    if name == "SERVICE_QUOTA":
        metric_id = _arg_id(call)
        quota = ctx.quota_of(metric_id)
        if quota is None:
            raise ExpressionError(f"SERVICE_QUOTA({metric_id}): no quota is known for this usage metric")
        return TimeSeries({t: float(quota) for t in ctx.series(metric_id).points})
    values = [_eval(a, ctx) for a in args]
    if name == "FILL":
        if len(values) != 2:
            raise ExpressionError("FILL takes two arguments")
        target, how = values
        if isinstance(target, list):
            return [_fill(ctx, s, how) for s in target]
        if not isinstance(target, TimeSeries):
            raise ExpressionError("FILL fills a time series")
        return _fill(ctx, target, how)
    if name == "IF":
        if len(values) not in (2, 3):
            raise ExpressionError("IF takes two or three arguments")
        return _if(values[0], values[1], values[2] if len(values) == 3 else None)
    if name == "TIME_SERIES":
        if len(values) != 1 or isinstance(values[0], (list, TimeSeries)):
            raise ExpressionError("TIME_SERIES takes a number")
        return _series({t: values[0] for t in ctx.grid})
    if len(values) != 1:
        raise ExpressionError(f"{name} takes one argument")
    value = values[0]
    if name in ("MIN", "MAX", "SUM", "AVG", "STDDEV", "DATAPOINT_COUNT"):
        if isinstance(value, list):
            return _reduce_array(name, value)
        if isinstance(value, TimeSeries):
            return _reduce_series(name, list(value.points.values()))
        raise ExpressionError(f"{name} takes a time series or an array")
    if name == "ABS":
        return _map(value, abs)
    if name == "CEIL":
        return _map(value, lambda v: float(math.ceil(v)))
    if name == "FLOOR":
        return _map(value, lambda v: float(math.floor(v)))
    if name == "LOG":
        return _map(value, math.log)
    if name == "LOG10":
        return _map(value, math.log10)
    if name in ("DIFF", "RATE", "RUNNING_SUM"):
        return _map_sequence(name, value)
    if name == "METRIC_COUNT":
        if not isinstance(value, list):
            raise ExpressionError("METRIC_COUNT takes an array")
        return float(len(value))
    if name in ("FIRST", "LAST"):
        if not isinstance(value, list) or not value:
            raise ExpressionError(f"{name} takes a non-empty array")
        return value[0] if name == "FIRST" else value[-1]
    if name == "REMOVE_EMPTY":
        if not isinstance(value, list):
            raise ExpressionError("REMOVE_EMPTY takes an array")
        return [s for s in value if isinstance(s, TimeSeries) and s.points]
    raise ExpressionError(f"unknown function {name}")


def _map_sequence(name: str, value: Value) -> Value:
    if isinstance(value, list):
        return [_map_sequence(name, v) for v in value]
    if not isinstance(value, TimeSeries):
        raise ExpressionError(f"{name} takes a time series")
    ordered, out, running, previous = sorted(value.points.items()), {}, 0.0, None
    for t, v in ordered:
        if name == "RUNNING_SUM":
            running += v
            out[t] = running
        elif previous is not None:
            out[t] = v - previous[1] if name == "DIFF" else (v - previous[1]) / (t - previous[0])
        previous = (t, v)
    return _series(out)


def _eval(node, ctx: _Context) -> Value:
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Str):
        return node.value
    if isinstance(node, Keyword):
        return node
    if isinstance(node, Ref):
        return ctx.series(node.id)
    if isinstance(node, Array):
        return [_eval(i, ctx) for i in node.items]
    if isinstance(node, Unary):
        return _map(_eval(node.operand, ctx), lambda v: -v)
    if isinstance(node, Binary):
        return _binary(node.op, _eval(node.left, ctx), _eval(node.right, ctx))
    if isinstance(node, Call):
        return _call(node, ctx)
    raise ExpressionError(f"cannot evaluate {node!r}")
