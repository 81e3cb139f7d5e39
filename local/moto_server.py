"""moto's server with DynamoDB requests one at a time, so each write is atomic as in DynamoDB.

moto evaluates a condition and applies the write in separate steps. Under concurrent requests
two conditional writes could both pass, which real DynamoDB never allows for one item. A lock
around each DynamoDB request restores that atomicity; other services (SQS long polls among
them) are still served concurrently. ``on_secrets_write`` is called after each request that
changes Secrets Manager, so the local runner can keep the secrets on disk across restarts.
"""

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

_READS = tuple(f"secretsmanager.{verb}" for verb in ("Get", "Describe", "List", "BatchGet"))
"""Secrets Manager actions that change nothing."""


class AtomicMotoServer(ThreadedMotoServer):
    """A ThreadedMotoServer on loopback that serialises DynamoDB requests. ``port=0`` picks one."""

    def __init__(self, port: int = 0) -> None:
        super().__init__(ip_address="127.0.0.1", port=port, verbose=False)
        self._lock = threading.Lock()
        self.on_secrets_write: Callable[[], object] | None = None
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)

        def one_at_a_time(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if target.startswith("secretsmanager.") and not target.startswith(_READS):
                answer = list(app(environ, start_response))
                if self.on_secrets_write is not None:
                    self.on_secrets_write()
                return answer
            if not target.startswith("DynamoDB"):
                answer_stream: Iterable[bytes] = app(environ, start_response)
                return answer_stream
            with self._lock:
                return list(app(environ, start_response))

        self._server = make_server(
            self._ip_address, self._port, one_at_a_time, threaded=True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"
