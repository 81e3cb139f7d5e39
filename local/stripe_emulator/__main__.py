"""`python -m local.stripe_emulator [--host 127.0.0.1] [--port 12111]`: run the emulator alone."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from types import FrameType

from .emulator import StripeEmulator

DEFAULT_PORT = 12111


def main(argv: list[str] | None = None) -> int:
    """Serve until Ctrl-C (or SIGTERM), then stop cleanly."""
    parser = argparse.ArgumentParser(prog="python -m local.stripe_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("BOXOFFICE_STRIPE_PORT") or DEFAULT_PORT),
        help="port (default $BOXOFFICE_STRIPE_PORT or 12111; 0 picks a free one)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Handle both signals explicitly: a shell may start background jobs with SIGINT ignored.
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    emulator = StripeEmulator(host=args.host, port=args.port).start()
    print(f"Stripe emulator listening on {emulator.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
        print("Stripe emulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
