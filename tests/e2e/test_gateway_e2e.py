"""`make run` answers like API Gateway's HTTP API, and hostile input over HTTP is a 4xx in shape."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from local import tokens
from local.dynamodb_local import free_port
from tests.support.e2e import auth


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("OPTIONS", "/v1/health"),
        ("PATCH", "/v1/conferences/demo"),
        ("DELETE", "/v1/conferences/demo"),
        ("GET", "/v1/no-such-route"),
        ("POST", "/v1/health"),
    ],
)
def test_unrouted_methods_and_paths_are_404_json_not_html(stack, http, method, path):
    reply = http.request(method, f"{stack.api}{path}", timeout=10)
    assert reply.status_code == 404
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {"message": "Not Found"}


def test_head_is_404_without_a_body(stack, http):
    reply = http.head(f"{stack.api}/v1/health", timeout=10)
    assert reply.status_code == 404
    assert reply.content == b""


def error_code(reply: requests.Response) -> str:
    assert reply.headers["content-type"].startswith("application/json"), reply.text
    return reply.json()["error"]["code"]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 20_000 + b"]" * 20_000,
        b'{"name": "caf\xe9"}',
        b'{"name": "x", "name": "y"}',
        b'{"max_bulk_quantity": NaN}',
        b'{"max_bulk_quantity": 1' + b"0" * 5_000 + b"}",
        b'{"name": "\\udc00"}',
    ],
    ids=["deep", "latin-1 bytes", "duplicate keys", "NaN", "5000 digits", "lone surrogate"],
)
def test_hostile_bodies_over_http_are_400_and_change_nothing(stack, http, body):
    url = f"{stack.api}/v1/conferences/demo"
    headers = {**auth(stack, "admin"), "Content-Type": "application/json"}
    reply = http.put(url, data=body, headers=headers, timeout=30)
    assert reply.status_code == 400, reply.text
    assert error_code(reply) == "bad_request"
    catalog = http.get(f"{url}/catalog", headers=auth(stack, "admin"), timeout=10).json()
    assert catalog["name"] == "Boxoffice Demo Conf"


def test_a_body_on_a_get_is_400(stack, http):
    reply = http.get(
        f"{stack.api}/v1/conferences/demo/catalog", data=b"{}", headers=auth(stack, "admin"), timeout=10
    )
    assert reply.status_code == 400
    assert error_code(reply) == "bad_request"


def test_a_request_head_over_api_gateways_quota_is_413(stack, http):
    reply = http.get(f"{stack.api}/v1/health", headers={"X-Junk": "a" * 10_300}, timeout=10)
    assert reply.status_code == 413
    assert reply.json() == {"message": "Request Entity Too Large"}


def test_a_forged_cursor_over_http_is_422(stack, http):
    reply = http.get(
        f"{stack.api}/v1/conferences/demo/orders",
        params={"cursor": "W1tbW1tbW1tbW1tbW1tbW1tbW1tbW1td"},
        headers=auth(stack, "staff"),
        timeout=10,
    )
    assert reply.status_code == 422
    assert error_code(reply) == "validation_error"


def test_health_says_ok_only_once_the_demo_is_seeded(tmp_path):
    """Polled from the first moment: 503 (JSON, Retry-After) until ok, and ok means the demo answers."""
    data_dir = tmp_path / "data"  # a clean data folder, never the repository's
    api_port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")},
        "BOXOFFICE_API_PORT": str(api_port),
        "BOXOFFICE_STRIPE_PORT": str(free_port()),
        "BOXOFFICE_DATA_DIR": str(data_dir),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "local.runner"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api = f"http://127.0.0.1:{api_port}"
    token = tokens.mint("local-attendee", email="attendee@boxoffice.local", groups=[])
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                reply = requests.get(f"{api}/v1/health", timeout=2)
            except requests.ConnectionError:
                time.sleep(0.05)
                continue
            if reply.status_code == 200:
                break
            assert reply.status_code == 503
            assert reply.headers["retry-after"] == "1"
            assert reply.json()["error"]["code"] == "unavailable"
            time.sleep(0.05)
        else:
            pytest.fail("the runner never became healthy")
        catalog = requests.get(
            f"{api}/v1/conferences/demo/catalog", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert catalog.status_code == 200, catalog.text
        assert catalog.json()["id"] == "demo"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
