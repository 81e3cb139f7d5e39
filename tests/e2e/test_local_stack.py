"""`make run` serves the demo, and a printed token reads it over HTTP."""

import requests

from tests.support.e2e import bearer


def test_runner_prints_a_token_for_every_role(stack):
    assert set(stack.tokens) == {"admin", "staff", "sponsor", "attendee"}
    assert "Try first" in stack.banner


def test_health_over_http(stack, http):
    reply = http.get(f"{stack.api}/v1/health", timeout=10)
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok"}


def test_demo_catalog_with_the_printed_attendee_token(stack, http):
    reply = http.get(
        f"{stack.api}/v1/conferences/demo/catalog", headers=bearer(stack.tokens["attendee"]), timeout=10
    )
    assert reply.status_code == 200, reply.text
    catalog = reply.json()
    assert catalog["id"] == "demo"
    assert catalog["currency"] == "usd"
    ticket_ids = {t["id"] for t in catalog["ticket_types"]}
    assert "general" in ticket_ids
    assert "speaker" not in ticket_ids, "the hidden ticket type is for staff only"
    assert catalog["addons"]


def test_staff_see_the_hidden_ticket_type(stack, http):
    reply = http.get(
        f"{stack.api}/v1/conferences/demo/catalog", headers=bearer(stack.tokens["staff"]), timeout=10
    )
    assert "speaker" in {t["id"] for t in reply.json()["ticket_types"]}


def test_missing_or_forged_tokens_get_401_in_the_error_shape(stack, http):
    for headers in ({}, bearer("not-a-jwt"), bearer(stack.tokens["attendee"][:-2] + "xx")):
        reply = http.get(f"{stack.api}/v1/conferences/demo/catalog", headers=headers, timeout=10)
        assert reply.status_code == 401
        assert reply.json()["error"]["code"] == "unauthenticated"


def test_admin_configures_a_conference_over_http(stack, http):
    body = {
        "name": "E2E Conf",
        "currency": "eur",
        "is_active": True,
        "stripe": {"secret_key": "sk_test_e2e000000000", "webhook_secret": "whsec_e2e000000000"},
    }
    reply = http.put(
        f"{stack.api}/v1/conferences/e2e-conf", json=body, headers=bearer(stack.tokens["admin"]), timeout=10
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["stripe"] == {"configured": True}
    assert "sk_test_" not in reply.text
    denied = http.put(
        f"{stack.api}/v1/conferences/e2e-conf", json=body, headers=bearer(stack.tokens["sponsor"]), timeout=10
    )
    assert denied.status_code == 403


def test_openapi_is_served(stack, http):
    doc = http.get(f"{stack.api}/v1/openapi.json", timeout=10).json()
    assert "/v1/conferences/{cid}/catalog" in doc["paths"]


def test_stripe_emulator_is_up_beside_the_api(stack):
    assert stack.stripe.startswith("http://127.0.0.1:")
    reply = requests.get(f"{stack.stripe}/v1/checkout/sessions", timeout=10)
    assert reply.status_code == 401
    assert reply.json()["error"]["type"] == "invalid_request_error"


def test_ctrl_c_stops_the_runner_cleanly(tmp_path):
    """A second runner on its own ports: SIGINT ends it with exit code 0 and frees the port."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from local.dynamodb_local import free_port

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
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{api_port}/v1/health", timeout=1).ok:
                break
        except requests.ConnectionError:
            pass
        time.sleep(0.2)  # not listening yet, or 503 while the demo is seeded
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    try:
        requests.get(f"http://127.0.0.1:{api_port}/v1/health", timeout=1)
        still_serving = True
    except requests.ConnectionError:
        still_serving = False
    assert not still_serving
