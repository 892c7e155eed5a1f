"""The local stack's stand-ins, each behind one small interface.

A `Plugin` is one stand-in of an AWS service or an outside party (moto, the identity
providers, the app stores, the functions, API Gateway, the triggers, CloudWatch's
metrics and alarms, the dashboards, the fault injector). `local/server.py` composes
them: it starts them in order, routes `/local/...` requests to the `routes()` they
declare and stops them in reverse order. A plugin's dependencies on other plugins are
its constructor's arguments, so the composition reads as a wiring diagram.

`StandIn` implements the lifecycle once: `setup` registers the undo of each effect as
it makes it, so a start that fails half-way undoes its own half, and `stop` undoes
everything in reverse.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Protocol

from functions.catalog import Function
from local.gateway import HttpResponse


class LocalRequest:
    def __init__(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes):
        self.method, self.path, self.query, self.headers, self.body = method, path, query, headers, body

    def json(self) -> object:
        return json.loads(self.body or b"null")


def json_response(status: int, payload: object) -> HttpResponse:
    return HttpResponse(status, {"Content-Type": "application/json"}, json.dumps(payload).encode())


LocalRoute = Callable[[LocalRequest], HttpResponse]


@dataclass(frozen=True)
class Route:
    """`method path` answered by `handler`. A `prefix` route answers every path under
    `path`; what follows it is variable (ids, tokens) and never logged."""

    method: str
    path: str
    handler: LocalRoute
    prefix: bool = False


@dataclass(frozen=True)
class StackContext:
    """What every stand-in may know of the stack it is part of."""

    stack: str  # the Pulumi stack whose settings it runs with (dev)
    host: str
    url: str  # where the stack's HTTP server answers (its port bound), for the stand-ins
    public_url: str  # where clients reach it (PUBLIC_URL): every URL handed out names it
    catalog: tuple[Function, ...]
    background: bool  # False: no threads of their own; tests drive them


class Plugin(Protocol):
    name: str

    def start(self, context: StackContext) -> None:
        """Makes the stand-in work; when it raises, the stand-in has undone what it did."""

    def routes(self) -> tuple[Route, ...]:
        """Its `/local/...` routes, asked once it started."""

    def stop(self) -> None:
        """Undoes what `start` did; returns within seconds."""


class StandIn:
    """A Plugin whose `setup` registers the undo of each effect on `undo` as it makes it."""

    name = "stand-in"

    def __init__(self) -> None:
        self._undo = ExitStack()

    def start(self, context: StackContext) -> None:
        with ExitStack() as undo:  # a failing setup leaves the block: its effects are undone
            self.setup(context, undo)
            self._undo = undo.pop_all()

    def setup(self, context: StackContext, undo: ExitStack) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define setup")

    def routes(self) -> tuple[Route, ...]:
        return ()

    def stop(self) -> None:
        self._undo.close()


class RouteTable:
    """The `/local/...` routes of all plugins: one owner per method and path."""

    def __init__(self) -> None:
        self.exact: dict[tuple[str, str], LocalRoute] = {}
        self.prefixes: dict[tuple[str, str], LocalRoute] = {}

    def add(self, owner: str, route: Route) -> None:
        if not route.path.startswith("/local/"):
            raise ValueError(f"{owner}: local routes live under /local/, not {route.path}")
        table = self.prefixes if route.prefix else self.exact
        if (route.method, route.path) in table:
            raise ValueError(f"{owner}: {route.method} {route.path} is already routed")
        table[(route.method, route.path)] = route.handler

    def find(self, method: str, path: str) -> LocalRoute | None:
        return self.exact.get((method, path)) or next(
            (r for (m, prefix), r in self.prefixes.items() if m == method and path.startswith(prefix)), None
        )

    def loggable(self, path: str) -> str:
        """A registered path as is, a prefix route's prefix, never the variable part."""
        if any(p == path for _, p in self.exact):
            return path
        prefix = next((p for _, p in self.prefixes if path.startswith(p)), None)
        return f"{prefix}{{redacted}}" if prefix else "/local/{unknown}"
