"""Modules imported on first use, so a cold start loads only what its first request needs.

PynamoDB (with botocore under it) and the store modules built on it cost more at import than
anything a function's routes define. Services name them at the top as usual, but through
:func:`module`, which imports on the first attribute read: the first request that reads or
writes the table, or a SnapStart ``before_snapshot`` hook (``boxoffice.snapstart``).

The import itself is ``importlib.import_module``, under the import system's own per-module
locks, so two threads reaching a lazy module at once get one fully executed module. Type
checkers see the real module: import it under ``TYPE_CHECKING`` next to the lazy name.
"""

import importlib
from types import ModuleType
from typing import Any

_NAMED: list["LazyModule"] = []
"""Every lazy module named in this process: what its code may load on first use."""


class LazyModule:
    """Stands for the module ``name`` and imports it when an attribute is first read."""

    __slots__ = ("_module", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None
        _NAMED.append(self)

    def load(self) -> ModuleType:
        """The real module, imported now if it was not yet."""
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return self._module

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.load(), attr)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded yet"
        return f"<lazy module {self._name!r}, {state}>"


def module(name: str) -> Any:
    """``name`` imported on first attribute access (typed ``Any``: see the module docstring)."""
    return LazyModule(name)


def load_all() -> list[str]:
    """Import every module named lazily so far, as first requests would; returns their names.

    For a SnapStart snapshot, which should hold what requests load, and for the local runner's
    warm parents, whose forked environments should not each import the same modules again.
    """
    for lazy in list(_NAMED):
        lazy.load()
    return sorted({lazy._name for lazy in _NAMED})
