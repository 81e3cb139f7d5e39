"""The local runner's Secrets Manager, kept in a file of its data folder across restarts.

moto holds secrets in memory only. The runner writes every secret the app stored (the
conferences' Stripe keys) to ``secrets.json`` (mode 0600, replaced atomically) after each change,
and puts them back into a fresh moto on start. Values are never printed or logged.
"""

import contextlib
import json
import os
import threading
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()


def save(client: Any, path: Path) -> int:
    """Write every secret's current string value and description to ``path``; returns the count."""
    with _LOCK:
        secrets: dict[str, dict[str, str]] = {}
        for page in client.get_paginator("list_secrets").paginate():
            for entry in page["SecretList"]:
                name = entry["Name"]
                with contextlib.suppress(client.exceptions.ResourceNotFoundException):
                    value = client.get_secret_value(SecretId=name)
                    if "SecretString" in value:
                        secrets[name] = {
                            "SecretString": value["SecretString"],
                            "Description": entry.get("Description") or "",
                        }
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump(secrets, out)
        os.replace(temporary, path)
        return len(secrets)


def restore(client: Any, path: Path) -> int:
    """Create each secret saved in ``path`` (if any) in a fresh Secrets Manager; returns the count."""
    if not path.is_file():
        return 0
    secrets: dict[str, dict[str, str]] = json.loads(path.read_text())
    for name, secret in secrets.items():
        client.create_secret(
            Name=name, SecretString=secret["SecretString"], Description=secret["Description"]
        )
    return len(secrets)
