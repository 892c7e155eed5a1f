"""Runs catalog functions in-process, the way Lambda would: one handler per function,
imported on first use, called with an event and a context.

Waits. A function whose handler module keeps its clock and its pause as module
attributes `monotonic` and `sleep` (the process function's backoff between model
attempts) gets a `WaitClock` there: a wait does not block, the function's clock jumps
ahead by it instead. A job the model never answers thus ends as `model_unavailable`
within milliseconds, as many at once as Lambda's concurrency would end them, rather
than one container taking its full 290 s per job; its Duration includes the skipped
time, so it is what Lambda would report.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Optional, Protocol

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
        """Puts this clock in place of `module`'s own `monotonic` and `sleep` when they are
        the real ones (a test may have replaced them)."""
        if getattr(module, "monotonic", None) is time.monotonic and getattr(module, "sleep", None) is time.sleep:
            module.monotonic, module.sleep = self.monotonic, self.sleep
            return True
        return False

    @staticmethod
    def uninstall(module) -> None:
        module.monotonic, module.sleep = time.monotonic, time.sleep


class InvocationObserver(Protocol):
    def invocation_started(self, name: str, physical: str) -> tuple[float, int]: ...

    def invocation_ended(self, physical: str, at: float, event: Any, duration_ms: float, error: bool) -> None: ...


def import_handler(fn: Function) -> Handler:
    module, _, attribute = fn.handler.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def fresh_handler(fn: Function) -> tuple[Handler, Any]:
    """The handler of a new execution environment: its module executed again as a new
    module object (its resolver, its warm flag, its module state its own), outside
    sys.modules; what it imports (functions/common, the function's other modules) is the
    process's, as it is for two different functions."""
    name, _, attribute = fn.handler.rpartition(".")
    original = importlib.import_module(name)
    spec = importlib.util.spec_from_file_location(name, original.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, attribute), module


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

    One invocation per execution environment ("container") at a time, as in Lambda, and
    as many containers per function as there are concurrent invocations of it ("For each
    concurrent request, Lambda provisions a separate instance of your execution
    environment": https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html).
    A function's first container runs its imported handler module; each further one a
    fresh copy of that module (fresh_handler), since the module keeps its invocation's
    state (its resolver holds the current request). A free container is reused, warm.
    With a custom `resolve`, a further container is resolve(fn) called again.

    All containers run in one process: what the modules share (functions/common,
    Powertools) must keep nothing per request for the whole process. Powertools does (the
    resolver's current event on its class, the log keys on its one formatter), so
    functions/common keeps the request on each resolver and the log keys per thread
    (common/http.py, common/observability.py; tests/local/test_function_isolation.py)."""

    def __init__(self, functions: Mapping[str, Function], physical_names: Mapping[str, str],
                 region: str, account_id: str, resolve: Resolver = import_handler,
                 observer: Optional[InvocationObserver] = None, waits: Optional[WaitClock] = None):
        """`observer` sees every invocation (the AWS/Lambda metrics); `waits` replaces the
        handler modules' waits (see the module docstring)."""
        self.functions = dict(functions)
        self.observer, self.waits = observer, waits
        self._waiting_modules: list = []
        self._names = dict(physical_names)
        self._region, self._account = region, account_id
        self._resolve = resolve
        self._idle: dict[str, list[Handler]] = {name: [] for name in self.functions}
        self._started: dict[str, int] = {name: 0 for name in self.functions}
        self._pool = threading.Lock()

    def __contains__(self, name: str) -> bool:
        return name in self.functions

    def invoke(self, name: str, event: dict, request_id: Optional[str] = None) -> Any:
        """`request_id`: Lambda keeps an asynchronous event's request id across its retries
        (the process function's claim relies on it); a new one otherwise."""
        fn = self.functions[name]
        handler = self._container(fn)
        physical = self._names.get(name, name)
        context = LambdaContext(
            function_name=physical, memory_limit_in_mb=fn.memory_mb, timeout_s=fn.timeout_s,
            invoked_function_arn=f"arn:aws:lambda:{self._region}:{self._account}:function:{physical}",
            **({"aws_request_id": request_id} if request_id else {}))
        try:
            with acting_as(name):
                return self._run(handler, name, physical, event, context)
        finally:
            with self._pool:
                self._idle[name].append(handler)

    @property
    def containers(self) -> dict[str, int]:
        """How many execution environments each function has started."""
        with self._pool:
            return dict(self._started)

    def _container(self, fn: Function) -> Handler:
        """A free container's handler, or a new container's."""
        with self._pool:
            if self._idle[fn.name]:
                return self._idle[fn.name].pop()
            first = self._started[fn.name] == 0
            self._started[fn.name] += 1
        try:
            if first or self._resolve is not import_handler:
                handler = self._resolve(fn)
                module = sys.modules.get(getattr(handler, "__module__", "") or "")
            else:
                handler, module = fresh_handler(fn)
        except BaseException:
            with self._pool:
                self._started[fn.name] -= 1
            raise
        if self.waits is not None and module is not None and self.waits.install(module):
            self._waiting_modules.append(module)
        return handler

    def _run(self, handler: Handler, name: str, physical: str, event: dict, context: LambdaContext) -> Any:
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
            self.observer.invocation_ended(physical, at, event, (time.monotonic() - started + waited) * 1000,
                                           failed)

    def close(self) -> None:
        """Gives the handler modules their own clock back."""
        for module in self._waiting_modules:
            WaitClock.uninstall(module)
        self._waiting_modules.clear()
