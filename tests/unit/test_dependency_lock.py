"""The layer's lock, requirements/dev.txt and the installed venv agree, so the tests run what deploys.

``sam build`` installs the layer from ``layers/boxoffice/requirements.txt``; the tests run in the
development venv. A package pinned differently in the two (botocore 1.44.8 deployed, 1.44.5 tested)
means the tests vouch for code that is not shipped. ``make lock`` regenerates both files.
"""

import re
from importlib import metadata

from tests.support.requirements import DEV_TXT, LAYER_IN, LAYER_LOCK
from tests.support.requirements import entries as _entries
from tests.support.requirements import pins as _pins

_SHA256 = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def test_the_lock_pins_boto3_and_botocore_so_the_layer_ships_the_tested_sdk() -> None:
    lock = _pins(LAYER_LOCK)
    assert {"boto3", "botocore", "s3transfer", "jmespath"} <= lock.keys()


def test_every_locked_package_is_hash_checked() -> None:
    unhashed = [name for name, (_, line) in _entries(LAYER_LOCK).items() if not _SHA256.search(line)]
    assert unhashed == [], f"no --hash for {unhashed}: pip only checks hashes when every line has one"


def test_the_lock_is_compiled_from_the_current_requirements_in() -> None:
    lock = _pins(LAYER_LOCK)
    stale = {name: (pin, lock.get(name)) for name, pin in _pins(LAYER_IN).items() if lock.get(name) != pin}
    assert stale == {}, f"requirements.in and the lock differ (wanted, locked): {stale}; run make lock"


def test_dev_requirements_pin_every_shared_package_at_the_locked_version() -> None:
    lock, dev = _pins(LAYER_LOCK), _pins(DEV_TXT)
    assert lock.keys() <= dev.keys(), f"dev.txt lacks {sorted(lock.keys() - dev.keys())}"
    differ = {name: (lock[name], dev[name]) for name in lock if dev[name] != lock[name]}
    assert differ == {}, f"locked vs dev.txt: {differ}; run make lock"


def test_the_installed_venv_runs_the_locked_version_of_every_layer_package() -> None:
    installed: dict[str, str | None] = {}
    for name in _pins(LAYER_LOCK):
        try:
            installed[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed[name] = None
    differ = {
        name: (pin, installed[name]) for name, pin in _pins(LAYER_LOCK).items() if installed[name] != pin
    }
    assert differ == {}, f"locked vs installed: {differ}; reinstall the venv from requirements/dev.txt"


def test_the_installed_venv_runs_the_dev_pinned_version_of_every_package() -> None:
    differ: dict[str, tuple[str, str | None]] = {}
    for name, pin in _pins(DEV_TXT).items():
        try:
            version: str | None = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = None
        if version != pin:
            differ[name] = (pin, version)
    assert differ == {}, f"dev.txt vs installed: {differ}; reinstall the venv from requirements/dev.txt"
