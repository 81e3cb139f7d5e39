"""Resolves the few CloudFormation intrinsics the template's environment uses, for local runs."""

import re
from collections.abc import Mapping
from typing import Any


def resolve(value: Any, names: Mapping[str, str]) -> Any:
    """Replace ``Ref`` and ``Fn::Sub`` with local names; ``names`` maps logical ids and parameters."""
    if isinstance(value, dict) and len(value) == 1:
        ((kind, arg),) = value.items()
        if kind == "Ref":
            if arg not in names:
                raise KeyError(f"the local runner has no value for !Ref {arg}")
            return names[arg]
        if kind == "Fn::Sub" and isinstance(arg, str):
            return re.sub(r"\$\{([\w:.]+)\}", lambda m: str(names[m.group(1)]), arg)
        raise ValueError(f"the local runner cannot resolve {kind}")
    return value
