"""Loading a function's ``app.py`` the way Lambda does: its folder, with the layer importable."""

import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


@cache
def load_function(name: str) -> ModuleType:
    """``functions/<name>/app.py`` as a module; loaded once, as a warm container would be."""
    spec = importlib.util.spec_from_file_location(
        f"boxoffice_fn_{name}", ROOT / "functions" / name / "app.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
