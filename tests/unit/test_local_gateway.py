"""The runner's HTTP front answers as API Gateway's HTTP API does, and not before it is ready.

The front is served in-process on a free port with the API function's real handler; the rest
of the stack (moto, the emulator, the demo) is not needed to pin how it answers.
"""

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

from local import runner, tokens
from tests.support.functions import load_function


@pytest.fixture
def gateway() -> Iterator[tuple[runner.LocalStack, int]]:
    """The runner's front with the API function behind it; the stack is not yet ready."""
    stack = runner.LocalStack(api_port=0, stripe_port=0)
    stack.handlers["ApiFunction"] = load_function("api").handler
    server = ThreadingHTTPServer(("127.0.0.1", 0), stack._request_handler_class())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield stack, server.server_address[1]
    server.shutdown()
    server.server_close()


def request(port: int, method: str, path: str, **kwargs) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, **kwargs)
        reply = conn.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
    finally:
        conn.close()


def raw(port: int, data: bytes) -> tuple[int, bytes]:
    """Send ``data`` as is and read the whole answer (the front closes after a refusal)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_health_is_503_in_the_error_shape_until_the_demo_is_seeded_then_ok(gateway):
    stack, port = gateway
    status, headers, body = request(port, "GET", "/v1/health")
    assert status == 503
    assert headers["retry-after"] == "1"
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "unavailable"
    stack.ready.set()
    status, _, body = request(port, "GET", "/v1/health")
    assert (status, json.loads(body)) == (200, {"status": "ok"})


def test_every_routed_path_waits_for_readiness_but_unknown_ones_are_404_at_once(gateway):
    _, port = gateway
    token = tokens.mint("u", email="u@example.com", groups=[])
    status, _, _ = request(
        port, "GET", "/v1/conferences/demo/catalog", headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 503
    status, _, body = request(port, "GET", "/v1/nowhere")
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("OPTIONS", "/v1/health"),
        ("PATCH", "/v1/conferences/demo"),
        ("DELETE", "/v1/conferences/demo"),
        ("BREW", "/v1/health"),
        ("POST", "/"),  # GET / is the console; nothing else is routed there
        ("GET", "/index.html"),
        ("GET", "/v1/health/"),
        ("POST", "/v1/health"),
    ],
)
def test_unrouted_methods_and_paths_are_404_json_like_an_http_api(gateway, method, path):
    stack, port = gateway
    stack.ready.set()
    status, headers, body = request(port, method, path)
    assert status == 404
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"message": "Not Found"}


def test_head_is_404_with_no_body(gateway):
    stack, port = gateway
    stack.ready.set()
    status, headers, body = request(port, "HEAD", "/v1/health")
    assert status == 404
    assert headers["content-type"] == "application/json"
    assert body == b""


def test_a_request_head_over_10_kb_is_413_json(gateway):
    _, port = gateway
    status, _, body = request(port, "GET", "/v1/health", headers={"X-Junk": "a" * 10_300})
    assert status == 413
    assert json.loads(body) == {"message": "Request Entity Too Large"}
    status, _, body = request(port, "GET", "/v1/health?q=" + "a" * 10_300)
    assert status == 413


def test_http_servers_own_refusals_are_json_not_html(gateway):
    _, port = gateway
    status, body = raw(port, b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 414
    assert json.loads(body) == {"message": "Request-URI Too Long"}
    status, body = raw(port, b"NONSENSE\r\n\r\n")
    assert status == 400
    assert "message" in json.loads(body)


@pytest.mark.parametrize("length", [b"-1", b"abc", str(11 * 1024 * 1024).encode()])
def test_bad_or_oversize_content_lengths_are_refused_without_reading(gateway, length):
    _, port = gateway
    status, body = raw(
        port, b"PUT /v1/conferences/demo HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n{}"
    )
    assert status in (400, 413)
    assert "message" in json.loads(body)


def test_a_chunked_body_reaches_the_function_like_any_other(gateway):
    stack, port = gateway
    stack.ready.set()
    token = tokens.mint("u", email="u@example.com", groups=["admin"])
    body = b'{"name": '
    data = (
        b"PUT /v1/conferences/demo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + f"Authorization: Bearer {token}\r\n".encode()
        + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + f"{len(body):x}\r\n".encode()
        + body
        + b"\r\n0\r\n\r\n"
    )
    status, reply = raw(port, data)
    assert status == 400, reply
    assert json.loads(reply)["error"]["code"] == "bad_request"
