"""Lambda SnapStart hooks: what a snapshot holds, and what each restored environment makes anew.

With the template's ``SnapStart`` parameter at ``PublishedVersions``, Lambda initializes each
published version once, runs the before-snapshot hooks, snapshots the environment, and resumes
every new environment from that snapshot. So:

- before the snapshot, :func:`preload` loads what a cold import leaves to first use (every
  module named through ``boxoffice.lazy``, boto3, the Stripe SDK, Powertools Parameters),
  builds the request and response shapes, and makes the DynamoDB and EventBridge clients, so
  environments start with all of it done;
- after each restore, :func:`forget_unique_state` reseeds ``random`` and runs what modules
  registered with :func:`after_restore`: each module that caches a client, a secret or a clock
  reading drops it there (connections, credentials and secrets are not to be shared between
  environments, nor is the random generator's state).

``snapshot_restore_py`` ships only with Lambda's managed Python runtimes; elsewhere (tests, the
local runner) :func:`register` registers nothing. Without SnapStart the runtime never runs the
hooks, so registering costs a function only this module's import.
"""

import importlib
import random
from collections.abc import Callable

_AFTER_RESTORE: list[Callable[[], None]] = []


def after_restore[F: Callable[[], None]](forget: F) -> F:
    """Have ``forget`` run after each restore, for state environments must not share."""
    _AFTER_RESTORE.append(forget)
    return forget


def preload() -> list[str]:
    """Import what first requests would and make the AWS clients; returns the lazy modules loaded."""
    from boxoffice import bus, lazy, shapes
    from boxoffice.store import base

    loaded = lazy.load_all()
    for name in ("boto3", "stripe", "aws_lambda_powertools.utilities.parameters"):
        importlib.import_module(name)
    shapes.build_all()
    base.make_client()
    bus._client()
    return loaded


def forget_unique_state() -> None:
    """Reseed ``random`` from the OS and drop every registered client, secret and clock reading."""
    random.seed()
    for forget in _AFTER_RESTORE:
        forget()


def register() -> bool:
    """Register both hooks with Lambda's runtime; False where there is no such runtime."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return False
    register_before_snapshot(preload)
    register_after_restore(forget_unique_state)
    return True
