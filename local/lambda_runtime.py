"""What the Lambda runtime gives a handler, for running the real handlers in-process."""

import importlib.util
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from local.template import ROOT

LAYER_PATH = ROOT / "layers" / "boxoffice"


@dataclass
class LambdaContext:
    """The attributes Powertools reads from Lambda's context object."""

    function_name: str = "boxoffice-local"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:boxoffice-local"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/boxoffice-local"
    log_stream_name: str = "local"
    timeout_seconds: int = 15
    deadline: float | None = None
    """When the invocation times out (``time.time()`` seconds); by default ``timeout_seconds`` from now."""

    def __post_init__(self) -> None:
        if self.deadline is None:
            self.deadline = time.time() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the deadline, counting down as Lambda's does (never below 0)."""
        assert self.deadline is not None
        return max(0, int((self.deadline - time.time()) * 1000))


def load_handler_module(code_uri: Path, name: str) -> ModuleType:
    """Import ``<code_uri>/app.py`` under a unique name, with the layer importable as in Lambda."""
    if str(LAYER_PATH) not in sys.path:
        sys.path.insert(0, str(LAYER_PATH))
    spec = importlib.util.spec_from_file_location(f"boxoffice_fn_{name}", code_uri / "app.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {code_uri / 'app.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def warm_clients() -> None:
    """Load what functions defer to first use and make the cached AWS clients once, in a parent
    that forks environments, so each forked environment starts with them (as a warm container,
    or a SnapStart snapshot, would): the same ``boxoffice.snapstart.preload`` a snapshot runs."""
    from boxoffice import snapstart

    snapstart.preload()
