"""Runs catalog functions in-process, the way Lambda would: one handler per function,
imported on first use, called with an event and a context."""

from __future__ import annotations

import contextlib
import importlib
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Optional

from functions.catalog import Function

Handler = Callable[[dict, Any], Any]
Resolver = Callable[[Function], Handler]

_acting = threading.local()


def current_function() -> Optional[str]:
    """The catalog function whose role the AWS calls of this thread are made with: the one
    running here, or the one a trigger stand-in acts for (Lambda reads a stream and sends
    to failure queues with the function's execution role)."""
    return getattr(_acting, "name", None)


@contextlib.contextmanager
def acting_as(name: str) -> Iterator[None]:
    previous = current_function()
    _acting.name = name
    try:
        yield
    finally:
        _acting.name = previous


def import_handler(fn: Function) -> Handler:
    module, _, attribute = fn.handler.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Powertools and our code read."""
    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    timeout_s: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = 0.0

    def __post_init__(self):
        self._deadline = time.monotonic() + self.timeout_s
        self.log_group_name = f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalLambda:
    """Invokes catalog functions by name with their physical names and timeouts.

    One invocation per function at a time, as in one Lambda container: handlers keep
    per-invocation state in module globals (Powertools' resolver holds the current
    event), which concurrent threads would mix up."""

    def __init__(self, functions: Mapping[str, Function], physical_names: Mapping[str, str],
                 region: str, account_id: str, resolve: Resolver = import_handler):
        self.functions = dict(functions)
        self._names = dict(physical_names)
        self._region, self._account = region, account_id
        self._resolve = resolve
        self._handlers: dict[str, Handler] = {}
        self._containers = {name: threading.Lock() for name in self.functions}

    def __contains__(self, name: str) -> bool:
        return name in self.functions

    def invoke(self, name: str, event: dict, request_id: Optional[str] = None) -> Any:
        """`request_id`: Lambda keeps an asynchronous event's request id across its retries
        (the process function's claim relies on it); a new one otherwise."""
        fn = self.functions[name]
        handler = self._handlers.get(name)
        if handler is None:
            handler = self._handlers[name] = self._resolve(fn)
        physical = self._names.get(name, name)
        context = LambdaContext(
            function_name=physical, memory_limit_in_mb=fn.memory_mb, timeout_s=fn.timeout_s,
            invoked_function_arn=f"arn:aws:lambda:{self._region}:{self._account}:function:{physical}",
            **({"aws_request_id": request_id} if request_id else {}))
        with self._containers[name], acting_as(name):
            return handler(event, context)
