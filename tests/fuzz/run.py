"""``make test-fuzz``: Schemathesis against the local stack, as each of the demo's four roles.

It starts ``python -m local.runner`` (as the e2e lane does), reads the tokens the runner mints,
and runs Schemathesis (its own venv, ``.venv-fuzz``) on the served ``/v1/openapi.json`` once
per role with the checks the contract promises: no 5xx, only documented statuses, bodies and
content types as documented. The budget is fixed (examples per operation, a per-request
deadline); the seed is printed first, and ``FUZZ_SEED=<seed>`` replays a run.

Run: ``python -m tests.fuzz.run`` (exit 1 on any failure; reports go to ``.cache/fuzz``).
"""

import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests

from local.template import ROOT

SCHEMATHESIS = ROOT / ".venv-fuzz" / "bin" / "schemathesis"
ROLES = ("attendee", "sponsor", "staff", "admin")
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance"
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "10"))
"""Generated cases per operation and role (positive and negative), besides the coverage phase."""
REQUEST_DEADLINE_SECONDS = 10.0
"""A request slower than this fails the run: the stack must answer, whatever it is sent."""
ROLE_TIMEOUT_SECONDS = 300
"""Hard stop for one role's run, so a hung stack cannot hang CI."""


REAL_ID_PROBABILITY = 0.7
"""How often a path parameter is a record that exists (the rest are generated from the schema)."""


def seed_records(api: str, tokens: dict[str, str]) -> dict[str, list[str]]:
    """Records of ``demo`` for the fuzzer to reach past 404: an order, a fulfilled comp deal, its codes."""

    def send(method: str, path: str, role: str, body: Any = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {tokens[role]}"}
        reply = requests.request(method, f"{api}{path}", json=body, headers=headers, timeout=30)
        assert reply.ok, f"{method} {path}: {reply.status_code} {reply.text}"
        return reply.json()

    base = "/v1/conferences/demo"
    catalog = send("GET", f"{base}/catalog", "attendee")
    ticket = next(t["id"] for t in catalog["ticket_types"] if not t.get("sold_out"))
    order = send("POST", f"{base}/orders", "attendee", {"lines": [{"ticket_type_id": ticket, "quantity": 1}]})
    deal = {
        "sponsor_id": "acme",
        "quantity": 3,
        "ticket_type_id": ticket,
        "unit_price": 0,
        "voucher_config": {"voucher_type": "comp", "max_uses": 1},
    }
    purchase = send("POST", f"{base}/bulk-purchases", "staff", deal)
    send("POST", f"{base}/bulk-purchases/{purchase['id']}/approve", "staff")
    send("POST", f"{base}/bulk-purchases/{purchase['id']}/fulfill", "staff")
    codes = send("GET", f"{base}/bulk-purchases/{purchase['id']}/vouchers", "staff")["items"]
    return {
        "cid": ["demo"],
        "order_id": [order["id"]],
        "purchase_id": [purchase["id"]],
        "code": [c["code"] for c in codes],
    }


def write_config(records: dict[str, list[str]]) -> Path:
    """A schemathesis.toml binding each path parameter to the seeded records, some of the time."""
    lines = []
    for name, values in records.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    for name in records:
        lines.append(f'"path.{name}" = {{ dictionary = "{name}", probability = {REAL_ID_PROBABILITY} }}')
    path = ROOT / ".cache" / "fuzz" / "schemathesis.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def schemathesis_command(api: str, token: str, seed: int, role: str, config: Path) -> list[str]:
    """The Schemathesis CLI for one role; every knob that shapes the run is here."""
    reports = ROOT / ".cache" / "fuzz" / role
    return [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        f"{api}/v1/openapi.json",
        "--url",
        api,
        "--checks",
        CHECKS,
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(seed),
        "--phases",
        "examples,fuzzing",
        "--request-timeout",
        str(REQUEST_DEADLINE_SECONDS),
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--suppress-health-check",
        "too_slow,filter_too_much",
        "--no-color",
        "--report",
        "junit,ndjson",
        "--report-dir",
        str(reports),
    ]


def run_role(command: list[str]) -> tuple[int, int]:
    """Run Schemathesis, echoing its output; returns its exit code and how many cases it generated."""
    generated = 0
    with subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        watchdog = threading.Timer(ROLE_TIMEOUT_SECONDS, proc.kill)  # a hung stack must not hang CI
        watchdog.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                print(line, end="", flush=True)
                if found := re.search(r"(\d+) generated", line):
                    generated = int(found.group(1))
        finally:
            watchdog.cancel()
    return proc.returncode, generated


def main() -> int:
    if not SCHEMATHESIS.exists():
        print(f"{SCHEMATHESIS.relative_to(ROOT)} is missing: run make .venv-fuzz/.installed", file=sys.stderr)
        return 2
    seed = int(os.environ.get("FUZZ_SEED") or random.randrange(1, 2**31))
    print(f"fuzz seed: {seed}  (replay: make test-fuzz FUZZ_SEED={seed})", flush=True)
    from tests.support.e2e import running_stack

    failed: list[str] = []
    requests_sent = 0
    started = time.monotonic()
    with running_stack() as stack:
        print(f"stack up in {time.monotonic() - started:.1f}s at {stack.api}", flush=True)
        records = seed_records(stack.api, stack.tokens)
        config = write_config(records)
        print(f"records for path parameters: {records}", flush=True)
        for role in ROLES:
            role_started = time.monotonic()
            print(f"--- {role} ---", flush=True)
            command = schemathesis_command(stack.api, stack.tokens[role], seed, role, config)
            code, generated = run_role(command)
            requests_sent += generated
            print(f"{role}: exit {code} in {time.monotonic() - role_started:.1f}s", flush=True)
            if code != 0:
                failed.append(role)
    print(
        f"fuzz: {len(ROLES)} roles, {requests_sent} generated cases, {len(failed)} roles failing,"
        f" {time.monotonic() - started:.1f}s, seed {seed}",
        flush=True,
    )
    if failed:
        print(f"fuzz FAILED for {', '.join(failed)}; replay with FUZZ_SEED={seed}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
