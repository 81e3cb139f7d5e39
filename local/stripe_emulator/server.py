"""The HTTP layer: `/v1/...` (Stripe's REST API), `/checkout/{id}` (hosted page), `/_emulator/...`.

Per API request: injected faults first, then the API key, the route, the idempotency key, the
parameter schema, and the operation under the store lock. Any unexpected exception becomes
Stripe's 500 `api_error` JSON (and is logged); the server itself keeps running.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import re
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from . import api, checkout, checkout_page, control, forms
from .currencies import format_amount
from .errors import StripeError, api_error, invalid_api_key, no_api_key, unrecognized_url
from .idempotency import Saved, is_saved_error
from .objects import API_VERSION
from .params import validate
from .store import CHARGE, SESSION, Ctx

if TYPE_CHECKING:
    from .emulator import StripeEmulator

log = logging.getLogger("local.stripe_emulator")

_KEY = re.compile(r"sk_test_[A-Za-z0-9_]+")
MAX_BODY = 1024 * 1024


class EmulatorServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its emulator and can drop idle keep-alive connections."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: StripeEmulator) -> None:
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Track the connection so `close_connections` can end it."""
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection once its handler is done."""
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End every open connection (used on stop, so clients do not hang on keep-alive)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Dropped(Exception):
    """The connection was closed on purpose (fault injection); send nothing."""


class RequestHandler(BaseHTTPRequestHandler):
    """One HTTP connection (HTTP/1.1 keep-alive)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server_version = "stripe-emulator"
    sys_version = ""
    timeout = 120
    server: EmulatorServer

    def log_message(self, format: str, *args: Any) -> None:
        """Route the access log through `logging` at debug level instead of stderr."""
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        """GET."""
        self._dispatch("GET")

    def do_POST(self) -> None:
        """POST."""
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        """DELETE."""
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        """PUT (Stripe has no PUT routes)."""
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        """PATCH (Stripe has no PATCH routes)."""
        self._dispatch("PATCH")

    # -- plumbing -----------------------------------------------------------------------------

    @property
    def emulator(self) -> StripeEmulator:
        """The emulator this server belongs to."""
        return self.server.emulator

    def _dispatch(self, method: str) -> None:
        self._responded = False
        try:
            self._route(method)
        finally:
            if method != "GET":
                self.emulator.changed()

    def _route(self, method: str) -> None:
        try:
            body = self._read_body()
            path, _, query = self.path.partition("?")
            if path == "/v1" or path.startswith("/v1/"):
                self._api(method, path, query, body)
            elif path.startswith("/checkout/"):
                self._page(method, path[len("/checkout/") :], body)
            elif path.startswith("/receipts/"):
                self._receipt(path[len("/receipts/") :])
            elif path == "/_emulator" or path.startswith("/_emulator/"):
                status, payload = control.handle(
                    self.emulator, method, path, query, body, self.headers.get("Content-Type", "")
                )
                self._send_json(status, payload)
            elif path == "/" and method == "GET":
                self._send_json(
                    200, {"name": "stripe-emulator", "api_version": API_VERSION, "docs": "/_emulator"}
                )
            else:
                error = unrecognized_url(method, path)
                self._send_json(error.status, error.body())
        except _Dropped:
            return
        except StripeError as exc:
            self._send_json(exc.status, exc.body())
        except Exception:
            log.exception("the emulator failed on %s %s", method, self.path)
            if not self._responded:
                self._send_json(500, api_error().body())

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            raise StripeError(413 if length > 0 else 400, "invalid_request_error", "Bad request body length.")
        return self.rfile.read(length) if length > 0 else b""

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, no-store")
        self.send_header("Access-Control-Allow-Origin", "*")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self._responded = True

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload, indent=2).encode("utf-8"), "application/json", headers)

    def _drop(self) -> None:
        """Close the connection with a TCP reset and no response."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
        raise _Dropped

    # -- /v1 ----------------------------------------------------------------------------------

    def _api_key(self) -> str:
        header = (self.headers.get("Authorization") or "").strip()
        if not header:
            raise no_api_key()
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if scheme.lower() == "basic":
            try:
                value = base64.b64decode(value).decode("utf-8").partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                value = ""
        elif scheme.lower() != "bearer":
            value = header
        if not value:
            raise no_api_key()
        if not _KEY.fullmatch(value):
            raise invalid_api_key(value)
        return value

    def _api(self, method: str, path: str, query: str, body: bytes) -> None:
        emulator = self.emulator
        request_id = emulator.ids.new("req_")
        headers = {"Request-Id": request_id, "Stripe-Version": API_VERSION}
        fault = emulator.faults.take()
        if fault == "500":
            error = api_error("An unknown error occurred (injected by the Stripe emulator).")
            self._send_json(500, error.body(request_id), {**headers, "Stripe-Should-Retry": "true"})
            return
        if fault == "reset":
            self._drop()
        idempotency_key = self.headers.get("Idempotency-Key") if method == "POST" else None
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        try:
            key = self._api_key()
            found = api.match(method, path)
            if found is None:
                raise unrecognized_url(method, path)
            route, object_id = found
            raw = forms.decode(body if method == "POST" else query)
        except StripeError as exc:
            self._send_json(exc.status, exc.body(request_id), headers)
            return
        if idempotency_key:
            try:
                saved = emulator.idempotency.begin(
                    key, idempotency_key, method, path, raw, emulator.clock.now()
                )
            except StripeError as exc:
                self._send_json(exc.status, exc.body(request_id), headers)
                return
            if saved is not None:
                if fault == "reset_after":
                    self._drop()
                self._send(
                    saved.status,
                    saved.body,
                    "application/json",
                    {**saved.headers, "Idempotent-Replayed": "true"},
                )
                return
        try:
            status, payload, save = self._run(route, key, object_id, raw, request_id, idempotency_key)
        except BaseException:
            if idempotency_key:
                emulator.idempotency.abandon(key, idempotency_key)
            raise
        encoded = json.dumps(payload, indent=2).encode("utf-8")
        if idempotency_key:
            if save:
                emulator.idempotency.finish(key, idempotency_key, Saved(status, encoded, headers))
            else:
                emulator.idempotency.abandon(key, idempotency_key)
        if fault == "reset_after":
            self._drop()
        self._send(status, encoded, "application/json", headers)

    def _run(
        self,
        route: api.Route,
        key: str,
        object_id: str | None,
        raw: dict[str, Any],
        request_id: str,
        idempotency_key: str | None,
    ) -> tuple[int, dict[str, Any], bool]:
        """Validate and run one API call: `(status, body, save for idempotent replay)`."""
        store = self.emulator.store
        try:
            params = validate(route.schema, raw)
        except StripeError as exc:
            return exc.status, exc.body(request_id), False
        with store.lock:
            ctx = Ctx(store.account(key), request_id, idempotency_key)
            try:
                return 200, route.handler(store, ctx, params, object_id), True
            except StripeError as exc:
                return exc.status, exc.body(request_id), is_saved_error(exc)

    # -- hosted checkout page -----------------------------------------------------------------

    def _page(self, method: str, session_id: str, body: bytes) -> None:
        store = self.emulator.store
        with store.lock:
            found = store.find(session_id)
            if found is None or found[1]["object"] != SESSION:
                self._send(404, checkout_page.not_found(session_id).encode(), "text/html; charset=utf-8")
                return
            account, session = found
            if method == "GET":
                page = checkout_page.render(session, account.line_items.get(session_id, []))
                self._send(200, page.encode(), "text/html; charset=utf-8")
                return
            if method != "POST":
                self._send(405, b"Method Not Allowed", "text/plain", {"Allow": "GET, POST"})
                return
            outcome = dict(parse_qsl(body.decode("utf-8", "replace"))).get("outcome", "")
            try:
                redirect = checkout.pay(store, Ctx(account), session, outcome)
            except checkout.PaymentRefused as exc:
                page = checkout_page.render(session, account.line_items.get(session_id, []), message=str(exc))
                status = 400 if outcome not in checkout.OUTCOMES else 409
                self._send(status, page.encode(), "text/html; charset=utf-8")
                return
            if redirect is None:
                page = checkout_page.render(
                    session, account.line_items.get(session_id, []), message="Your card was declined."
                )
                self._send(402, page.encode(), "text/html; charset=utf-8")
                return
        self._send(303, b"", "text/plain", {"Location": redirect})

    def _receipt(self, charge_id: str) -> None:
        store = self.emulator.store
        with store.lock:
            found = store.find(charge_id)
            if found is None or found[1]["object"] != CHARGE:
                self._send(404, b"No such receipt", "text/plain")
                return
            charge = found[1]
            amount = format_amount(charge["amount"], charge["currency"])
            text = f"Receipt for {charge['id']}: {amount} ({charge['status']})"
        self._send(200, text.encode(), "text/plain; charset=utf-8")
