"""Starts AWS's DynamoDB Local (the jar from the amplify-dynamodb-simulator npm package).

``make`` downloads it into ``.cache/dynamodb-local``; ``DYNAMODB_LOCAL_DIR`` points elsewhere.
Used by the integration lane and the benchmarks, which need AWS's own engine rather than moto.
"""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import boto3

DEFAULT_DIR = Path(__file__).resolve().parent.parent / ".cache" / "dynamodb-local"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DynamoDBLocal:
    """An in-memory DynamoDB Local on a free loopback port, stopped on exit."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory or os.environ.get("DYNAMODB_LOCAL_DIR") or DEFAULT_DIR)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> Self:
        jar = self.directory / "DynamoDBLocal.jar"
        if not jar.is_file():
            raise FileNotFoundError(f"{jar} is missing: run `make setup` (it downloads DynamoDB Local)")
        java = shutil.which("java")
        if java is None:
            raise FileNotFoundError("java (17 or newer) is needed to run DynamoDB Local")
        self._process = subprocess.Popen(
            [
                java,
                "-Djava.library.path=DynamoDBLocal_lib",
                "-jar",
                "DynamoDBLocal.jar",
                "-inMemory",
                "-sharedDb",
                "-port",
                str(self.port),
                "-disableTelemetry",
            ],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = boto3.client("dynamodb", endpoint_url=self.url, region_name="us-east-1")
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.list_tables()
                return self
            except Exception:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("DynamoDB Local did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
