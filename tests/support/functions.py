"""Loading a function's ``app.py`` the way Lambda does: its folder, with the layer importable."""

from functools import cache
from types import ModuleType

from local.lambda_runtime import load_handler_module
from local.template import ROOT


@cache
def load_function(name: str) -> ModuleType:
    """``functions/<name>/app.py`` as a module; loaded once, as a warm container would be."""
    return load_handler_module(ROOT / "functions" / name, name)
