"""Reading pip requirements files: the layer's lock, its input and requirements/dev.txt."""

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from local.template import ROOT

LAYER_LOCK = ROOT / "layers" / "boxoffice" / "requirements.txt"
LAYER_IN = ROOT / "layers" / "boxoffice" / "requirements.in"
DEV_TXT = ROOT / "requirements" / "dev.txt"


def entries(path: Path) -> dict[str, tuple[str, str]]:
    """Each requirement line of a pip requirements file (continuations joined): name -> (pin, line)."""
    joined = re.sub(r"\\\n", " ", path.read_text())
    found: dict[str, tuple[str, str]] = {}
    for raw in joined.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        requirement = Requirement(line.split(" --hash", 1)[0].strip())
        (spec,) = requirement.specifier  # every line is pinned with exactly one ==
        assert spec.operator == "==", f"{path.name}: {line} is not an exact pin"
        found[canonicalize_name(requirement.name)] = (spec.version, line)
    return found


def pins(path: Path) -> dict[str, str]:
    """Each exactly pinned package of a requirements file: canonical name -> version."""
    return {name: version for name, (version, _) in entries(path).items()}
