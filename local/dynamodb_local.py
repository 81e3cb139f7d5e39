"""Starts AWS's DynamoDB Local (the jar from the amplify-dynamodb-simulator npm package).

``make`` downloads it into ``.cache/dynamodb-local``; ``DYNAMODB_LOCAL_DIR`` points elsewhere.
Used by the integration lane and the benchmarks, which need AWS's own engine rather than moto,
and by the local runner, which keeps its table on disk (``db_path``) so state survives a restart.
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
        port: int = s.getsockname()[1]
        return port


class JavaMissing(FileNotFoundError):
    """No ``java`` on PATH: DynamoDB Local is a Java program."""


JAVA_HELP = (
    "java (17 or newer) is needed to run DynamoDB Local: install it with your package manager "
    "(Debian/Ubuntu: `sudo apt-get install openjdk-17-jre-headless`; macOS: `brew install openjdk@17`), "
    "then run the command again"
)


class DynamoDBLocal:
    """DynamoDB Local on a free loopback port, stopped on exit.

    In memory by default; with ``db_path`` its data lives in that folder (one SQLite file with
    ``-sharedDb``), written as each request completes, so it survives a stop or a crash.
    """

    def __init__(self, directory: Path | None = None, db_path: Path | None = None) -> None:
        self.directory = Path(directory or os.environ.get("DYNAMODB_LOCAL_DIR") or DEFAULT_DIR)
        self.db_path = Path(db_path).resolve() if db_path is not None else None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> Self:
        jar = self.directory / "DynamoDBLocal.jar"
        if not jar.is_file():
            raise FileNotFoundError(f"{jar} is missing: run `make setup` (it downloads DynamoDB Local)")
        java = shutil.which("java")
        if java is None:
            raise JavaMissing(JAVA_HELP)
        if self.db_path is not None:
            self.db_path.mkdir(parents=True, exist_ok=True)
            storage = ["-dbPath", str(self.db_path)]
        else:
            storage = ["-inMemory"]
        self._process = subprocess.Popen(
            [
                java,
                "-Djava.library.path=DynamoDBLocal_lib",
                "-jar",
                "DynamoDBLocal.jar",
                *storage,
                "-sharedDb",
                "-port",
                str(self.port),
                "-disableTelemetry",
            ],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = boto3.client(
            "dynamodb",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
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
