"""CloudWatch SEARCH expressions, run on the metrics the local store holds.

https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/search-expression-syntax.html:
`SEARCH(' {Namespace, DimensionName, ...} SearchTerm', 'Statistic'[, Period])`.

- The metric schema `{Namespace, Dim1, ...}` (optional) keeps the metrics of that
  namespace whose dimension names are exactly the ones listed. Names with spaces or
  other non-alphanumeric characters are double-quoted.
- Search terms (optional, but the schema or a term is needed), joined by `AND` (also
  implied), `OR` and `NOT` (case sensitive), grouped with parentheses:
  - `"text"` matches exactly (case sensitive; `\\"`, `\\\\`, `\\(`, `\\)` escaped) a
    metric name, namespace, dimension name or dimension value;
  - an unquoted term matches partially: it is cut into tokens as CloudWatch cuts names
    (at non-alphanumeric characters, camel case and the start of digits); a single
    token matches any token of a name, namespace, dimension name or value, in any
    case; a composite one (`CustomCount`, `Count1`) matches consecutive tokens with
    the same case; pieces separated by non-alphanumerics (`network/errors`) match
    consecutive tokens;
  - `Property=term` limits the match to `MetricName`, `Namespace` or the value of the
    dimension named `Property` (exact when the term is quoted).
- A search returns at most 500 time series, ordered here by metric and dimensions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MAX_RESULTS = 500
MAX_QUERY = 1024  # characters of the query (schema and terms)


class SearchError(ValueError):
    """A SEARCH that CloudWatch would refuse."""


@dataclass(frozen=True)
class Term:
    text: str
    exact: bool
    property: str | None = None  # MetricName, Namespace or a dimension name


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND, OR
    left: Node
    right: Node


Node = Term | Not | BoolOp | None


@dataclass(frozen=True)
class Search:
    namespace: str | None
    dimensions: tuple[str, ...] | None  # the schema's dimension names, None without a schema
    terms: Node
    statistic: str
    period: int | None


# -- finding SEARCH(...) calls in an expression --------------------------------------------

_CALL = re.compile(r"\bSEARCH\s*\(")


def _quoted(text: str, pos: int, quote: str) -> tuple[str, int]:
    """The content of the `quote`-delimited string starting at `pos`, and the position after it."""
    if pos >= len(text) or text[pos] != quote:
        raise SearchError(f"expected {quote} at {pos} in {text!r}")
    end = pos + 1
    while end < len(text) and text[end] != quote:
        end += 2 if text[end] == "\\" else 1
    if end >= len(text):
        raise SearchError(f"unterminated string in {text!r}")
    return text[pos + 1 : end], end + 1


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def find_calls(expression: str) -> list[tuple[int, int, Search]]:
    """(start, end, search) for each SEARCH(...) call in a metric math expression."""
    calls: list[tuple[int, int, Search]] = []
    for m in _CALL.finditer(expression):
        if calls and m.start() < calls[-1][1]:
            continue
        pos = _skip(expression, m.end())
        query, pos = _quoted(expression, pos, "'")
        pos = _skip(expression, pos)
        if expression[pos : pos + 1] != ",":
            raise SearchError(f"SEARCH needs a statistic: {expression!r}")
        statistic, pos = _quoted(expression, _skip(expression, pos + 1), "'")
        pos = _skip(expression, pos)
        period = None
        if expression[pos : pos + 1] == ",":
            number = re.match(r"\s*(\d+)\s*", expression[pos + 1 :])
            if not number:
                raise SearchError(f"SEARCH's period must be a number of seconds: {expression!r}")
            period, pos = int(number.group(1)), pos + 1 + number.end()
        if expression[pos : pos + 1] != ")":
            raise SearchError(f"SEARCH(...) is not closed in {expression!r}")
        calls.append((m.start(), pos + 1, parse(query, statistic, period)))
    return calls


# -- the query --------------------------------------------------------------------------------

_SCHEMA_NAME = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^,{}"\s]+))\s*')
_TERM = re.compile(
    r"""\s*(?:
      (?P<paren>[()])
    | (?P<prop>[A-Za-z0-9_.:/-]+)=(?:"(?P<pexact>(?:[^"\\]|\\.)*)"|(?P<ppartial>[^\s()"]+))
    | "(?P<exact>(?:[^"\\]|\\.)*)"
    | (?P<word>[^\s()"]+)
    )""",
    re.VERBOSE,
)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def parse(query: str, statistic: str = "Average", period: int | None = None) -> Search:
    if len(query) > MAX_QUERY:
        raise SearchError(f"a search query has at most {MAX_QUERY} characters")
    namespace = dimensions = None
    rest = query.strip()
    if rest.startswith("{"):
        close = rest.find("}")
        if close < 0:
            raise SearchError(f"the metric schema is not closed in {query!r}")
        names, body = [], rest[1:close]
        for part in _split_schema(body):
            m = _SCHEMA_NAME.fullmatch(part)
            if not m:
                raise SearchError(f"cannot read the metric schema {{{body}}}")
            names.append(_unescape(m.group(1)) if m.group(1) is not None else m.group(2))
        if not names:
            raise SearchError("the metric schema needs a namespace")
        namespace, dimensions = names[0], tuple(names[1:])
        rest = rest[close + 1 :].lstrip()
        rest = rest[1:] if rest.startswith(",") else rest  # the documented `{NS}, "term"` form
    terms = _parse_terms(rest)
    if namespace is None and terms is None:
        raise SearchError("a search needs a metric schema, a search term or both")
    if period is not None and (period <= 0 or (period >= 60 and period % 60)):
        raise SearchError(f"period {period}: 1, 5, 10, 30, 60 or a multiple of 60 seconds")
    return Search(namespace, dimensions, terms, statistic, period)


def _split_schema(body: str) -> list[str]:
    parts, current, quoted, i = [], "", False, 0
    while i < len(body):
        c = body[i]
        if c == "\\" and quoted:
            current += body[i : i + 2]
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        if c == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += c
        i += 1
    if current.strip() or parts:
        parts.append(current)
    return parts


def _parse_terms(text: str) -> Node:
    tokens, pos = [], 0
    while pos < len(text.rstrip()):
        m = _TERM.match(text, pos)
        if not m or m.end() == pos:
            raise SearchError(f"cannot read the search term {text[pos : pos + 20]!r}")
        pos = m.end()
        if m.group("paren"):
            tokens.append(m.group("paren"))
        elif m.group("prop"):
            exact = m.group("pexact") is not None
            tokens.append(Term(_unescape(m.group("pexact")) if exact else m.group("ppartial"), exact, m.group("prop")))
        elif m.group("exact") is not None:
            tokens.append(Term(_unescape(m.group("exact")), True))
        elif m.group("word") in ("AND", "OR", "NOT"):
            tokens.append(m.group("word"))
        else:
            tokens.append(Term(m.group("word"), False))
    if not tokens:
        return None
    i = 0

    def peek():
        return tokens[i] if i < len(tokens) else None

    def take():
        nonlocal i
        i += 1
        return tokens[i - 1]

    def disjunction():
        left = conjunction()
        while peek() == "OR":
            take()
            left = BoolOp("OR", left, conjunction())
        return left

    def conjunction():
        left = negation()
        while peek() is not None and peek() not in ("OR", ")"):
            if peek() == "AND":
                take()
            left = BoolOp("AND", left, negation())
        return left

    def negation():
        if peek() == "NOT":
            take()
            return Not(negation())
        token = take() if peek() is not None else None
        if token == "(":
            inner = disjunction()
            if peek() != ")":
                raise SearchError(f"unbalanced parentheses in {text!r}")
            take()
            return inner
        if not isinstance(token, Term):
            raise SearchError(f"unexpected {token or 'end'} in the search term {text!r}")
        return token

    tree = disjunction()
    if peek() is not None:
        raise SearchError(f"unexpected {peek()} in the search term {text!r}")
    return tree


# -- matching ---------------------------------------------------------------------------------

_ATOM = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def atoms(text: str) -> list[list[str]]:
    """The tokens of `text` per alphanumeric piece, case kept: "Project2-trial333" ->
    [["Project", "2"], ["trial", "333"]]."""
    return [_ATOM.findall(piece) for piece in re.split(r"[^A-Za-z0-9]+", text) if piece]


def partial_match(term: str, target: str) -> bool:
    """Whether the unquoted search term matches `target` by CloudWatch's tokens."""
    wanted = atoms(term)
    if not wanted:
        return False
    have = [a for piece in atoms(target) for a in piece]
    # Each piece of the term: one token in any case, or a composite with its case.
    pattern = [(p[0].lower(), False) if len(p) == 1 else None for p in wanted]
    sequence: list[tuple[str, bool]] = []
    for piece, simple in zip(wanted, pattern, strict=True):
        sequence += [simple] if simple else [(a, True) for a in piece]
    for start in range(len(have) - len(sequence) + 1):
        if all(
            (have[start + k] == token) if case else (have[start + k].lower() == token)
            for k, (token, case) in enumerate(sequence)
        ):
            return True
    return False


def _fields(namespace: str, name: str, dimensions: Mapping[str, str], prop: str | None) -> list[str]:
    if prop is None:
        return [namespace, name, *dimensions.keys(), *dimensions.values()]
    if prop == "MetricName":
        return [name]
    if prop == "Namespace":
        return [namespace]
    return [dimensions[prop]] if prop in dimensions else []


def _matches(node: Node, namespace: str, name: str, dimensions: Mapping[str, str]) -> bool:
    if node is None:
        return True
    if isinstance(node, Not):
        return not _matches(node.operand, namespace, name, dimensions)
    if isinstance(node, BoolOp):
        left = _matches(node.left, namespace, name, dimensions)
        if node.op == "AND":
            return left and _matches(node.right, namespace, name, dimensions)
        return left or _matches(node.right, namespace, name, dimensions)
    fields = _fields(namespace, name, dimensions, node.property)
    if node.exact:
        return node.text in fields
    return any(partial_match(node.text, f) for f in fields)


def matches(search: Search, namespace: str, name: str, dimensions: Mapping[str, str]) -> bool:
    schema = search.dimensions  # set with the namespace (parse)
    if search.namespace is not None and schema is not None:
        if namespace != search.namespace or set(dimensions) != set(schema):
            return False
    return _matches(search.terms, namespace, name, dimensions)


def run(search: Search, metrics: Sequence[tuple[str, str, Mapping[str, str]]]) -> list[tuple]:
    """The metrics (namespace, name, dimensions) the search finds, at most 500."""
    found = [m for m in metrics if matches(search, *m)]
    found.sort(key=lambda m: (m[0], m[1], sorted(m[2].items())))
    return found[:MAX_RESULTS]
