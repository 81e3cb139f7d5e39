"""Runs in a fresh ``python3.12 -I -S``: imports one built function and calls its handler per event.

Only the standard library is importable until the paths given on stdin are put first on
``sys.path`` in Lambda's order (function code, then the layer), so a dependency the built layer
lacks fails here as it would in Lambda. Results go to the file named by the first argument,
because Powertools logs to stdout. They include the modules loaded by the import alone, before
any event: what the function's cold start paid for; and each module Python compiled from source
because it found no usable bytecode (run with ``-B``, it writes none, as on Lambda's read-only
``/opt`` and ``/var/task``).
"""

import importlib
import importlib.machinery
import json
import sys
import sysconfig
import uuid
from importlib import metadata
from typing import Any


class Context:
    """The attributes of Lambda's context object that Powertools reads."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "artifact"

    def get_remaining_time_in_millis(self) -> int:
        return 15_000


COMPILED: list[str] = []
"""The source files compiled during this run (SourceFileLoader compiles only when no .pyc serves)."""


def _record_compiles() -> None:
    """Wrap ``SourceFileLoader.source_to_code`` so every compile from source is recorded."""
    loader = importlib.machinery.SourceFileLoader
    source_to_code = loader.source_to_code

    def recording(self: Any, data: Any, path: Any, *, _optimize: int = -1) -> Any:
        COMPILED.append(str(path))
        return source_to_code(self, data, path, _optimize=_optimize)

    loader.source_to_code = recording  # type: ignore[method-assign]


def main() -> None:
    """Read ``{"function", "path", "layer", "events"}`` from stdin; write replies and origins as JSON."""
    request = json.load(sys.stdin)
    _record_compiles()
    sys.path[:0] = request["path"]
    module = importlib.import_module("app")
    cold_modules = sorted(sys.modules)
    replies: list[Any] = []
    for event in request["events"]:
        replies.append(module.handler(event, Context(request["function"])))
    allowed = (
        __file__,
        *request["path"],
        sysconfig.get_paths()["stdlib"],
        sysconfig.get_paths()["platstdlib"],
    )
    origins = {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())}
    foreign = {name: f for name, f in origins.items() if f is not None and not f.startswith(allowed)}
    layer_versions = {d.metadata["Name"]: d.version for d in metadata.distributions(path=[request["layer"]])}
    report = {
        "replies": replies,
        "origins": {
            name: origins[name] for name in ("boto3", "botocore", "stripe", "boxoffice") if name in origins
        },
        "foreign": foreign,
        "layer_versions": layer_versions,
        "sys_path": sys.path,
        "site_imported": "site" in sys.modules,
        "app_file": module.__file__,
        "cold_modules": cold_modules,
        "compiled": COMPILED,
    }
    with open(sys.argv[1], "w", encoding="utf-8") as out:
        json.dump(report, out, default=str)


if __name__ == "__main__":
    main()
