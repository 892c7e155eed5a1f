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


@dataclass
class _Container:
    """One execution environment of a function: its modules and its loaded handler."""

    number: int
    handler: Handler
    waiting_module: Any = None


class LocalLambda:
    """Invokes catalog functions by name with their physical names and timeouts.

    Each concurrent invocation of a function runs in an execution environment of its
    own, as on Lambda ("For each concurrent request, Lambda provisions a separate instance
    of your execution environment"), one event at a time: a free (warm) one when there
    is, the oldest first, else a new one (a cold start). Each is an `Environment`
    (local/isolation.py): its own copies of its handler module, functions/common and
    Powertools; `prepare(function, import_module)` runs in each new one before its
    handler loads (the stand-ins Lambda has no need of: the offline model). What a
    function prints or logs goes, line by line, to `output(function, line)` (its log
    stream: EMF included). A custom `resolve` loads handlers in this process's shared
    modules instead (tests' stand-in handlers): one environment per function, which
    then runs one invocation at a time.
    https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html"""

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
        prepare: Callable[[str, Callable[[str], Any]], None] | None = None,
        variables: Mapping[str, Mapping[str, str]] | None = None,
    ):
        """`observer` sees every invocation (the AWS/Lambda metrics); `waits` replaces the
        handler modules' waits (see the module docstring); `variables`: each function's
        environment variables, which its modules then see instead of the process's."""
        self.functions = dict(functions)
        self.observer, self.waits = observer, waits
        self._names = dict(physical_names)
        self._region, self._account = region, account_id
        self._resolve, self._output, self._prepare = resolve, output, prepare
        self._variables = variables
        self._lock = threading.Lock()
        self._environments: dict[str, list[Environment]] = {name: [] for name in self.functions}
        self._containers: dict[str, list[_Container]] = {name: [] for name in self.functions}
        self._idle: dict[str, list[_Container]] = {name: [] for name in self.functions}
        self._shared_runs = {name: threading.Lock() for name in self.functions}

    @property
    def containers(self) -> dict[str, int]:
        """How many execution environments each function has had (its cold starts)."""
        with self._lock:
            return {name: len(made) for name, made in self._containers.items()}

    def module(self, name: str, module: str):
        """Function `name`'s copy of `module` in its first execution environment (made
        now if it has none), which serves its invocations whenever it is free: e.g. to
        watch or fault one of its calls. The shared module under a custom `resolve`."""
        if self._resolve is not None:
            return importlib.import_module(module)
        return self._first_environment(name).import_module(module)

    def _first_environment(self, name: str) -> Environment:
        with self._lock:
            if self._environments[name]:
                return self._environments[name][0]
        self._release(name, self._new_container(name))
        with self._lock:
            return self._environments[name][0]

    def _new_environment(self, name: str) -> Environment:
        output = self._output
        environment = Environment(
            name,
            (lambda line: output(name, line)) if output else None,
            None if self._variables is None else self._variables.get(name, {}),
        )
        with self._lock:
            self._environments[name].append(environment)
        if self._prepare is not None:
            self._prepare(name, environment.import_module)
        return environment

    def _new_container(self, name: str) -> _Container:
        """A cold start: a new environment, prepared, with the handler module loaded."""
        fn = self.functions[name]
        if self._resolve is not None:
            with self._lock:
                made = self._containers[name]
            if made:  # shared modules: the one environment there is
                return made[0]
            if self._prepare is not None:
                self._prepare(name, importlib.import_module)
            handler = self._resolve(fn)
        else:
            module, _, attribute = fn.handler.rpartition(".")
            handler = getattr(self._new_environment(name).import_module(module), attribute)
        container = _Container(0, handler)
        loaded = sys.modules.get(getattr(handler, "__module__", "") or "")
        if self.waits is not None and loaded is not None and self.waits.install(loaded):
            container.waiting_module = loaded
        with self._lock:
            container.number = len(self._containers[name])
            self._containers[name].append(container)
        return container

    def _acquire(self, name: str) -> _Container:
        with self._lock:
            idle = self._idle[name]
            if idle:
                container = min(idle, key=lambda c: c.number)
                idle.remove(container)
                return container
        return self._new_container(name)

    def _release(self, name: str, container: _Container) -> None:
        with self._lock:
            if container not in self._idle[name]:
                self._idle[name].append(container)

    def __contains__(self, name: str) -> bool:
        return name in self.functions

    def invoke(self, name: str, event: dict, request_id: str | None = None) -> Any:
        """`request_id`: Lambda keeps an asynchronous event's request id across its retries
        (the process function's claim relies on it); a new one otherwise."""
        fn = self.functions[name]
        physical = self._names.get(name, name)
        context = LambdaContext(
            function_name=physical,
            memory_limit_in_mb=fn.memory_mb,
            timeout_s=fn.timeout_s,
            invoked_function_arn=f"arn:aws:lambda:{self._region}:{self._account}:function:{physical}",
            aws_request_id=request_id or str(uuid.uuid4()),
        )
        shared = self._shared_runs[name] if self._resolve is not None else contextlib.nullcontext()
        with shared, acting_as(name):
            container = self._acquire(name)
            try:
                return self._run(name, physical, container.handler, event, context)
            finally:
                self._release(name, container)

    def _run(self, name: str, physical: str, handler: Handler, event: dict, context: LambdaContext) -> Any:
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
            self.observer.invocation_ended(physical, at, event, (time.monotonic() - started + waited) * 1000, failed)

    def close(self) -> None:
        """Gives the handler modules their own clock back and drops every environment."""
        with self._lock:
            containers = [c for made in self._containers.values() for c in made]
            environments = [e for made in self._environments.values() for e in made]
            for made in (self._containers, self._environments, self._idle):
                for name in made:
                    made[name] = []
        for container in containers:
            if container.waiting_module is not None:
                WaitClock.uninstall(container.waiting_module)
        for environment in environments:
            environment.close()
