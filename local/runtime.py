"""Runs catalog functions in-process, the way Lambda would: one handler per function,
imported on first use, called with an event and a context.

Waits. A function whose handler module takes its clocks through `use_clock`
(functions/common/clock.Clock: the process function's backoff between model attempts)
gets a `WaitClock`'s: a wait does not block, the function's clock jumps ahead by it
instead. A job the model never answers thus ends as `model_unavailable`
within milliseconds, as many at once as Lambda's concurrency would end them, rather
than one container taking its full 290 s per job; its Duration includes the skipped
time, so it is what Lambda would report.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from functions.catalog import Function
from local.isolation import Environment

Handler = Callable[[dict, Any], Any]
Resolver = Callable[[Function], Handler]

_acting = threading.local()


def current_function() -> str | None:
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


class WaitClock:
    """A monotonic clock whose waits return at once and move the clock ahead instead."""

    def __init__(self):
        self.skipped = 0.0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.skipped += max(0.0, float(seconds))

    def install(self, module) -> bool:
        """Gives `module` this clock through its `use_clock` when it runs on the real one
        (a test may have given it another)."""
        if getattr(module, "use_clock", None) is None:
            return False
        # The module's own Clock class: each function has its own copy of functions.common.
        clock_class = type(module.clock)
        if module.clock != clock_class():
            return False
        module.use_clock(clock_class(monotonic=self.monotonic, sleep=self.sleep))
        return True

    @staticmethod
    def uninstall(module) -> None:
        module.use_clock(type(module.clock)())


class InvocationObserver(Protocol):
    def invocation_started(self, name: str, physical: str) -> tuple[float, int]: ...

    def invocation_ended(self, physical: str, at: float, event: Any, duration_ms: float, error: bool) -> None: ...


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

    One invocation per function at a time, as in one Lambda container. Each function runs
    in its own `Environment` (local/isolation.py): its own copies of its handler module,
    functions/common and Powertools, as in its own execution environment, created on its
    first invocation and dropped by `close`; what it prints or logs goes, line by line, to
    `output(function, line)` (its log stream: EMF included). A custom `resolve` loads
    handlers in this process's shared modules instead (tests' stand-in handlers)."""

    def __init__(
        self,
        functions: Mapping[str, Function],
        physical_names: Mapping[str, str],
        region: str,
        account_id: str,
        resolve: Resolver | None = None,
        observer: InvocationObserver | None = None,
        waits: WaitClock | None = None,
        output: Callable[[str, str], None] | None = None,
    ):
        """`observer` sees every invocation (the AWS/Lambda metrics); `waits` replaces the
        handler modules' waits (see the module docstring)."""
        self.functions = dict(functions)
        self.observer, self.waits = observer, waits
        self._waiting_modules: list = []
        self._names = dict(physical_names)
        self._region, self._account = region, account_id
        self._resolve = resolve
        self._output = output
        self._handlers: dict[str, Handler] = {}
        self._environments: dict[str, Environment] = {}
        self._environments_lock = threading.Lock()
        self._containers = {name: threading.Lock() for name in self.functions}

    def environment(self, name: str) -> Environment:
        """The module state of function `name`'s execution environment."""
        with self._environments_lock:
            environment = self._environments.get(name)
            if environment is None:
                output = self._output
                environment = self._environments[name] = Environment(
                    name, (lambda line: output(name, line)) if output else None
                )
            return environment

    def module(self, name: str, module: str):
        """Function `name`'s own copy of `module` (e.g. to watch or fault one of its calls);
        the shared module under a custom `resolve`, whose handlers use that."""
        if self._resolve is not None:
            return importlib.import_module(module)
        return self.environment(name).import_module(module)

    def _load(self, fn: Function) -> Handler:
        if self._resolve is not None:
            return self._resolve(fn)
        module, _, attribute = fn.handler.rpartition(".")
        return getattr(self.module(fn.name, module), attribute)

    def __contains__(self, name: str) -> bool:
        return name in self.functions

    def invoke(self, name: str, event: dict, request_id: str | None = None) -> Any:
        """`request_id`: Lambda keeps an asynchronous event's request id across its retries
        (the process function's claim relies on it); a new one otherwise."""
        fn = self.functions[name]
        handler = self._handlers.get(name)
        if handler is None:
            handler = self._handlers[name] = self._load(fn)
            module = sys.modules.get(getattr(handler, "__module__", "") or "")
            if self.waits is not None and module is not None and self.waits.install(module):
                self._waiting_modules.append(module)
        physical = self._names.get(name, name)
        context = LambdaContext(
            function_name=physical,
            memory_limit_in_mb=fn.memory_mb,
            timeout_s=fn.timeout_s,
            invoked_function_arn=f"arn:aws:lambda:{self._region}:{self._account}:function:{physical}",
            **({"aws_request_id": request_id} if request_id else {}),
        )
        with self._containers[name], acting_as(name):
            if self.observer is None:
                return handler(event, context)
            at, _ = self.observer.invocation_started(name, physical)
            started, skipped = time.monotonic(), self.waits.skipped if self.waits else 0.0
            failed = True
            try:
                result = handler(event, context)
                failed = False
                return result
            finally:
                waited = (self.waits.skipped - skipped) if self.waits else 0.0
                self.observer.invocation_ended(
                    physical, at, event, (time.monotonic() - started + waited) * 1000, failed
                )

    def close(self) -> None:
        """Gives the handler modules their own clock back."""
        for module in self._waiting_modules:
            WaitClock.uninstall(module)
        self._waiting_modules.clear()
        with self._environments_lock:
            for environment in self._environments.values():
                environment.close()
            self._environments.clear()
        self._handlers.clear()
