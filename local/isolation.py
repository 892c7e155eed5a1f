"""Each local function in its own module state, as in its own Lambda execution environment.

Lambda runs every function in separate processes: nothing a module keeps (Powertools'
resolver, which holds the current request on its class; its Logger's keys and cold-start
flag; its Metrics' pending values; the functions' lru_caches of settings and clients)
is ever seen by another function, and a new deployment starts from nothing. The local
stack runs them all in one process; here each function gets an `Environment`: its own
copies of the packages that keep such state (ISOLATED), loaded from the same files
under a private name (`_lambda_<n>_<function>.functions.common.http`), so the product
code needs nothing for the local runtime.

How: an environment's modules get builtins of their own whose `__import__` sends an
absolute import of an isolated package to the private copy (at load and at call time:
`from functions.process.tasks import chat_task` inside a handler too), and whose `sys`
and `print` write to the environment's own stdout and stderr: what the function prints
or logs is its log stream, read line by line (`output`), as CloudWatch Logs reads the
function's. Everything else (boto3, pydantic, the standard library but `logging`) is
shared: it keeps no per-request state of ours. The private modules are in sys.modules
under their private names (pydantic and dataclasses look a class's module up there);
`close` takes them out.
"""

from __future__ import annotations

import atexit
import builtins
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import itertools
import os
import sys
import threading
import types
from collections.abc import Callable, Mapping
from typing import Protocol

# The packages whose module state is per function: ours, Powertools, and `logging`,
# whose registry holds Powertools' one Logger per service name (and so its keys).
# `local` too: the offline analyser the local stack loads into the process function's
# environment must raise and return that copy's classes (no function imports `local`).
ISOLATED = frozenset({"functions", "aws_lambda_powertools", "logging", "local"})
_import = builtins.__import__
_numbers = itertools.count(1)
_environments: dict[str, Environment] = {}
_lock = threading.Lock()

Output = Callable[[str], None]


class _Finder(importlib.abc.MetaPathFinder):
    """Finds `<prefix>.<module>` as the file of `<module>`, loaded into that environment."""

    def find_spec(self, fullname, path=None, target=None):
        prefix, _, real = fullname.partition(".")
        environment = _environments.get(prefix)
        if environment is None:
            return None
        if not real:  # the environment's root: a package holding nothing but the copies
            return importlib.machinery.ModuleSpec(fullname, None, is_package=True)
        parent, _, leaf = real.rpartition(".")
        found = importlib.machinery.PathFinder.find_spec(
            leaf, sys.modules[f"{prefix}.{parent}"].__path__ if parent else None
        )
        if found is None or not isinstance(found.loader, importlib.machinery.SourceFileLoader):
            raise ImportError(f"{real} has no Python source to load for {environment.function}", name=fullname)
        return importlib.util.spec_from_file_location(
            fullname,
            found.origin,
            loader=_Loader(fullname, found.origin, environment),
            submodule_search_locations=found.submodule_search_locations,
        )


class _Loader(importlib.machinery.SourceFileLoader):
    """The file's code (its cached bytecode when fresh), run with the environment's builtins."""

    def __init__(self, fullname, path, environment: Environment):
        super().__init__(fullname, path)
        self._environment = environment

    def exec_module(self, module) -> None:
        module.__dict__["__builtins__"] = self._environment.builtins
        super().exec_module(module)


_finder = _Finder()


class Sink(Protocol):
    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


# Where the functions' stdout and stderr are echoed (`make run`: its log file), or None:
# the process's own stream of the same name at that moment (the console, pytest's capture).
_echo: Sink | None = None


def echo_to(stream: Sink | None) -> None:
    """Sends every function's printed and logged lines to `stream` instead of the
    process's stdout and stderr (None: back to them). What `output` reads (the EMF that
    feeds the metric store) is unchanged."""
    global _echo
    _echo = stream


class _Stream:
    """A function's stdout or stderr: whole lines go to `output` and are echoed (`_echo`)."""

    def __init__(self, name: str, output: Output | None):
        self._name, self._output = name, output
        self._partial = ""
        self._lock = threading.Lock()

    def _target(self) -> Sink:
        return _echo if _echo is not None else getattr(sys, self._name)

    def write(self, text: str) -> int:
        self._target().write(text)
        if self._output is not None:
            with self._lock:
                *lines, self._partial = (self._partial + text).split("\n")
            for line in lines:
                self._output(line)
        return len(text)

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:
        return "utf-8"


class _Sys(types.ModuleType):
    """The `sys` an environment's modules import: the real one, but for stdout and stderr."""

    def __init__(self, stdout: _Stream, stderr: _Stream):
        super().__init__("sys")
        self.stdout = self.__stdout__ = stdout
        self.stderr = self.__stderr__ = stderr

    def __getattr__(self, name: str):
        return getattr(sys, name)


class _Os(types.ModuleType):
    """The `os` an environment's modules import: the real one, but for the environment
    variables, which are the function's own (Lambda gives each function only its own
    configuration and the runtime's variables; a read of another function's setting
    fails here as it would there)."""

    def __init__(self, variables: Mapping[str, str]):
        super().__init__("os")
        self.environ = dict(variables)

    def getenv(self, key: str, default: str | None = None) -> str | None:
        return self.environ.get(key, default)

    def __getattr__(self, name: str):
        return getattr(os, name)


class Environment:
    """The module state of one function's execution environment. With `variables`, its
    modules see those as `os.environ` (and `os.getenv`), not the process's."""

    def __init__(self, function: str, stdout: Output | None = None, variables: Mapping[str, str] | None = None):
        self.function = function
        self.prefix = f"_lambda_{next(_numbers)}_{function}"
        self.stdout, self.stderr = _Stream("stdout", stdout), _Stream("stderr", None)
        self._sys = _Sys(self.stdout, self.stderr)
        self._os = None if variables is None else _Os(variables)
        self.builtins = {**builtins.__dict__, "__import__": self._import, "print": self._print}
        with _lock:
            _environments[self.prefix] = self
            if _finder not in sys.meta_path:
                sys.meta_path.insert(0, _finder)

    def import_module(self, name: str) -> types.ModuleType:
        """This environment's copy of `name` (loaded on first use), or the shared module
        when `name` is not isolated."""
        if name.partition(".")[0] not in ISOLATED:
            return importlib.import_module(name)
        return importlib.import_module(f"{self.prefix}.{name}")

    def _import(self, name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0:
            top = name.partition(".")[0]
            if top == "sys":
                return self._sys
            if top == "os" and self._os is not None and (name == "os" or not fromlist):
                return self._os  # `import os`, `from os import environ`, `import os.path`
            if top in ISOLATED:
                module = _import(f"{self.prefix}.{name}", globals, locals, fromlist, 0)
                return module if fromlist else sys.modules[f"{self.prefix}.{top}"]
        return _import(name, globals, locals, fromlist, level)

    def _print(self, *args, file=None, **kwargs) -> None:
        builtins.print(*args, file=self.stdout if file is None else file, **kwargs)

    def close(self) -> None:
        """Forgets the copies: the next environment for this function starts from nothing."""
        logging = sys.modules.get(f"{self.prefix}.logging")
        if logging is not None:
            # The copy registered its shutdown at exit; it would keep every logger (and
            # through their formatters every Powertools copy) alive until then.
            atexit.unregister(logging.shutdown)
            logging.Logger.manager.loggerDict.clear()
            logging.root.handlers.clear()
        for name in [n for n in sys.modules if n == self.prefix or n.startswith(f"{self.prefix}.")]:
            del sys.modules[name]
        with _lock:
            _environments.pop(self.prefix, None)
            if not _environments and _finder in sys.meta_path:
                sys.meta_path.remove(_finder)
