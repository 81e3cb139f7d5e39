"""The offline runner: the whole app on loopback, routed exactly as template.yaml says.

It starts DynamoDB Local (AWS's own engine, its data on disk in the runner's data folder), moto
(EventBridge, SQS, Secrets Manager) and the Stripe emulator, creates or restores the template's
resources, then serves the HTTP API by turning each request into an API Gateway
HTTP API v2.0 event and invoking the real handler in an execution environment of its function
(a process serving one invocation at a time, see ``local.environments``). Events put on the bus reach the
functions that the template's rules name (moto matches the patterns and queues them; the
runner invokes, retries like Lambda's async retries, then parks failures in a local DLQ).
Schedules fire on timers.

State lives in the data folder (``.local-data/`` unless ``--data-dir`` or ``BOXOFFICE_DATA_DIR``
says otherwise): the table, the secrets the app stored, and the Stripe emulator's state. A
restart on the same folder carries on where the last run stopped; the demo is seeded only into a
new folder; ``--reset`` (``make run RESET=1``, ``make reset``) starts clean.
"""

import argparse
import json
import os
import shutil
import signal
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from local import secrets_file, signin, tokens
from local.apigw import http_api_event
from local.dynamodb_local import DynamoDBLocal, JavaMissing
from local.environments import Environments, InvocationFailed, Throttled
from local.intrinsics import resolve
from local.lambda_runtime import LAYER_PATH, LambdaContext
from local.moto_server import AtomicMotoServer
from local.template import ROOT, Function, Rule, Schedule, Template, load

Handler = Callable[[dict[str, Any], Any], Any]

LOCAL_NAMES = {"table": "boxoffice-local", "bus": "boxoffice-local"}
ASYNC_RETRIES = 2
"""Lambda retries a failed asynchronous invocation twice (the template's MaximumRetryAttempts)."""
DLQ_NAME = "boxoffice-local-dlq"
MAX_HEAD_BYTES = 10240
"""API Gateway's quota on the request line and header values together (HTTP API)."""
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
"""API Gateway's payload quota (HTTP API); larger requests never reach a function."""
RETRY_DELAY_SECONDS = float(os.environ.get("BOXOFFICE_RETRY_DELAY_SECONDS", "0.5"))
"""Lambda waits a minute, then two, between async retries; locally the wait is compressed."""

DEFAULT_DATA_DIR = ROOT / ".local-data"
SEEDED_MARKER = "seeded"
"""Written once the demo is in the folder: its absence means a new (or half-seeded) folder."""

DEMO_USERS = {
    "admin": ("local-admin", "admin@boxoffice.local", ["admin"]),
    "staff": ("local-staff", "staff@boxoffice.local", ["staff:demo"]),
    "sponsor": ("local-sponsor", "sponsor@acme.example", ["sponsor:demo:acme"]),
    "attendee": ("local-attendee", "attendee@boxoffice.local", []),
}


def _log(message: str) -> None:
    print(f"[runner] {message}", file=sys.stderr, flush=True)


class _GatewayServer(ThreadingHTTPServer):
    """The HTTP front: a deep accept queue, so a burst of connections is served, not reset."""

    request_queue_size = 256
    daemon_threads = True


class LocalStack:
    """Everything `make run` starts, as one object the e2e tests can start and stop too."""

    def __init__(
        self,
        api_port: int,
        stripe_port: int,
        template: Template | None = None,
        data_dir: Path | None = None,
    ) -> None:
        self.template = template or load()
        self.api_port = api_port
        self.stripe_port = stripe_port
        self.data_dir = (data_dir or DEFAULT_DATA_DIR).resolve()
        self.fresh = not (self.data_dir / SEEDED_MARKER).exists()
        """True when the data folder holds no seeded demo yet (new, reset or half-seeded)."""
        self.dynamodb = DynamoDBLocal(db_path=self.data_dir / "dynamodb")
        self.moto = AtomicMotoServer()
        self.stripe: Any = None
        self.stripe_saver: Any = None
        self.handlers: dict[str, Handler] = {}
        """Handlers to call in this process instead of an environment (tests of the front alone)."""
        self.environments: Environments | None = None
        self._locks: dict[str, threading.Lock] = {f: threading.Lock() for f in self.template.functions}
        self.http: ThreadingHTTPServer | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.ready = threading.Event()
        """Set once the demo is seeded; until then every API route answers 503 (Retry-After: 1)."""
        self.sign_in = signin.LocalSignIn(DEMO_USERS)
        """The console's sign-in page and token endpoint, which only the runner serves."""
        self.requests: Counter[str] = Counter()
        """Requests the gateway answered, by route key (``unrouted`` for its own 404s), as API Gateway bills them."""
        self.dead_letters = 0
        """Events parked in the DLQ after Lambda's retries (one SQS message each)."""
        self._counting = threading.Lock()

    # --- start-up -------------------------------------------------------------------------
    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.dynamodb.start()
        self.moto.start()
        self._start_stripe()
        self._set_environment()
        self._create_resources()
        self._restore_secrets()
        if str(LAYER_PATH) not in sys.path:
            sys.path.insert(0, str(LAYER_PATH))  # the runner seeds the demo through the services
        self.environments = Environments(self.template)
        self.environments.start()
        self.http = _GatewayServer(("127.0.0.1", self.api_port), self._request_handler_class())
        self.api_port = self.http.server_address[1]
        self._spawn(self.http.serve_forever)
        for rule in self.template.rules:
            self._spawn(self._deliver_rule, rule)
        for schedule in self.template.schedules:
            self._spawn(self._fire_schedule, schedule)
        self._spawn(self._reap_environments)

    def _reap_environments(self) -> None:
        """End environments idle for long, as Lambda does; the next request there starts cold."""
        while not self._stop.wait(5):
            if self.environments is not None:
                self.environments.reap()

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _start_stripe(self) -> None:
        try:
            from local.stripe_emulator import StripeEmulator
        except ImportError:
            _log("Stripe emulator not available; Stripe calls will fail")
            return
        from local.stripe_emulator.persistence import Saver

        emulator = StripeEmulator(host="127.0.0.1", port=self.stripe_port)
        self.stripe_saver = Saver(emulator, self.data_dir / "stripe.json")
        if self.stripe_saver.load():
            _log("restored the Stripe emulator's state from the data folder")
        self.stripe = emulator.start()
        self.stripe_saver.start()
        self.stripe_port = int(urlsplit(self.stripe.url).port or self.stripe_port)

    def _set_environment(self) -> None:
        names = {
            **{
                p: str(spec.get("Default", "")) for p, spec in self.template.raw.get("Parameters", {}).items()
            },
            "AWS::Region": "us-east-1",
            "AWS::AccountId": "123456789012",
            "AWS::StackName": "boxoffice-local",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        table_id, _ = self.template.table
        names[table_id] = LOCAL_NAMES["table"]
        for bus_id in self.template.resources_of("AWS::Events::EventBus"):
            names[bus_id] = LOCAL_NAMES["bus"]
        env: dict[str, str] = {}
        for function in self.template.functions.values():
            env.update(
                {
                    k: str(resolve(v, names))
                    for k, v in function.environment.items()
                    if k not in signin.CONSOLE_ENVIRONMENT
                }
            )
        # The console signs in on the runner's own page, not Cognito's (which the template names).
        env.update(signin.CONSOLE_ENVIRONMENT)
        env.update(
            {
                "AWS_ENDPOINT_URL": self.moto.url,
                "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb.url,
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_LAMBDA_FUNCTION_NAME": "boxoffice-local",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",
            }
        )
        if self.stripe is not None:
            env["STRIPE_API_BASE"] = self.stripe.url
        os.environ.pop("AWS_PROFILE", None)
        os.environ.update(env)

    def _create_resources(self) -> None:
        import boto3

        from local.aws import create_table

        dynamodb = boto3.client("dynamodb")
        if LOCAL_NAMES["table"] not in dynamodb.list_tables()["TableNames"]:
            create_table(dynamodb, LOCAL_NAMES["table"], self.template)
        events, sqs = boto3.client("events"), boto3.client("sqs")
        events.create_event_bus(Name=LOCAL_NAMES["bus"])
        sqs.create_queue(QueueName=DLQ_NAME)
        for rule in self.template.rules:
            queue_url = sqs.create_queue(QueueName=f"local-{rule.name}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            events.put_rule(
                Name=rule.name, EventBusName=LOCAL_NAMES["bus"], EventPattern=json.dumps(rule.pattern)
            )
            events.put_targets(
                Rule=rule.name, EventBusName=LOCAL_NAMES["bus"], Targets=[{"Id": rule.function, "Arn": arn}]
            )

    def _restore_secrets(self) -> None:
        """Put back the secrets an earlier run stored, then keep the file current after each write."""
        import boto3

        path = self.data_dir / "secrets.json"
        restored = secrets_file.restore(boto3.client("secretsmanager"), path)
        if restored:
            _log(f"restored {restored} secret(s) from the data folder")
        client = boto3.client("secretsmanager")
        self.moto.on_secrets_write = lambda: secrets_file.save(client, path)

    # --- invoking functions ---------------------------------------------------------------
    def invoke(self, function_id: str, event: dict[str, Any]) -> Any:
        """Invoke the function as Lambda does: in a free execution environment of its own.

        A handler put in ``handlers`` runs in this process instead, one invocation at a time
        (Powertools' resolver keeps the current event in shared state, so two requests in one
        process at once could read each other's event).
        """
        handler = self.handlers.get(function_id)
        if handler is not None:
            function: Function = self.template.functions[function_id]
            context = LambdaContext(function_name=function_id, timeout_seconds=function.timeout)
            with self._locks[function_id]:
                return handler(event, context)
        if self.environments is None:
            raise RuntimeError("the stack is not started")
        return self.environments.invoke(function_id, event)

    def invoke_async(self, function_id: str, event: dict[str, Any]) -> bool:
        """Invoke as Lambda does for events: retry failures, then park the event in the DLQ."""
        error: BaseException | None = None
        attempt = 0
        while attempt <= ASYNC_RETRIES:
            try:
                self.invoke(function_id, event)
                return True
            except Throttled:
                # Lambda keeps a throttled event and tries again later, without using a retry.
                if self._stop.wait(RETRY_DELAY_SECONDS):
                    return False
                continue
            except Exception as exc:  # any failure is retried, as Lambda would
                error = exc
                _log(f"{function_id} failed (attempt {attempt + 1}):\n{traceback.format_exc(limit=3)}")
                time.sleep(RETRY_DELAY_SECONDS * (attempt + 1))
                attempt += 1
        import boto3

        from local.dlq import invocation_record

        sqs = boto3.client("sqs")
        record = invocation_record(function_id, event, error or RuntimeError("unknown"), ASYNC_RETRIES + 1)
        sqs.send_message(
            QueueUrl=sqs.get_queue_url(QueueName=DLQ_NAME)["QueueUrl"], MessageBody=json.dumps(record)
        )
        with self._counting:
            self.dead_letters += 1
        _log(f"{function_id} gave up after {ASYNC_RETRIES + 1} attempts; event parked in {DLQ_NAME}")
        return False

    def replay_dlq(self) -> dict[str, int]:
        """Put every event parked in the local DLQ back on the bus (``python -m local.dlq replay --local``)."""
        import boto3

        from local.dlq import replay

        sqs = boto3.client("sqs")
        queue_url = sqs.get_queue_url(QueueName=DLQ_NAME)["QueueUrl"]
        replayed, skipped = replay(sqs, boto3.client("events"), queue_url, LOCAL_NAMES["bus"])
        return {"replayed": replayed, "skipped": skipped}

    def _deliver_rule(self, rule: Rule) -> None:
        from concurrent.futures import ThreadPoolExecutor

        import boto3

        sqs = boto3.client("sqs")
        queue_url = sqs.get_queue_url(QueueName=f"local-{rule.name}")["QueueUrl"]
        # Lambda takes each event into its own queue and invokes concurrently, up to the function's
        # reserved concurrency: events do not wait for each other.
        limit = self.environments.limit(rule.function) if self.environments is not None else 1
        invokers = ThreadPoolExecutor(max_workers=limit, thread_name_prefix=f"rule-{rule.name}")
        try:
            while not self._stop.is_set():
                try:
                    messages = sqs.receive_message(
                        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                    )
                except Exception:
                    if self._stop.is_set():
                        return
                    raise
                for message in messages.get("Messages", []):
                    envelope = json.loads(message["Body"])
                    envelope.setdefault("account", "123456789012")  # moto's SQS target drops it
                    # Accepted, as Lambda accepts an async invocation: retries and the DLQ are ours now.
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                    invokers.submit(self.invoke_async, rule.function, envelope)
        finally:
            invokers.shutdown(wait=False, cancel_futures=True)

    def _fire_schedule(self, schedule: Schedule) -> None:
        every = float(os.environ.get("BOXOFFICE_SCHEDULE_SECONDS") or schedule.every_seconds)
        while not self._stop.wait(every):
            now = datetime.now(UTC)
            self.invoke_async(
                schedule.function,
                {
                    "version": "0",
                    "id": str(uuid.uuid4()),
                    "detail-type": "Scheduled Event",
                    "source": "aws.scheduler",
                    "account": "123456789012",
                    "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "region": "us-east-1",
                    "resources": [
                        f"arn:aws:scheduler:us-east-1:123456789012:schedule/default/{schedule.name}"
                    ],
                    "detail": {},
                },
            )

    # --- HTTP ---------------------------------------------------------------------------------
    def _request_handler_class(self) -> type[BaseHTTPRequestHandler]:
        stack = self

        class ApiGateway(BaseHTTPRequestHandler):
            """Answers as an HTTP API does: JSON for everything, whatever the method or path.

            Unrouted methods and paths are 404 ``{"message":"Not Found"}``; requests over the
            gateway's quotas are 413; malformed framing is 400; the gateway's own answers are
            never HTML pages (the console's pages come from the API function's routes, and the
            runner-only sign-in page from ``local.signin``).
            """

            protocol_version = "HTTP/1.1"
            default_request_version = "HTTP/1.1"  # no HTTP/0.9: refusals always carry a status line

            def log_message(self, format: str, *args: Any) -> None:
                what = f"{getattr(self, 'command', '')} {getattr(self, 'path', '')}".strip() or "request"
                _log(f"{what} -> {args[1] if len(args) > 1 else ''}")

            def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
                """http.server's own refusals (414, 431, 400, 501) as the gateway's JSON, not HTML."""
                text = message or self.responses.get(code, ("Error",))[0]
                self.close_connection = True
                self._answer(code, json.dumps({"message": text}), {"Connection": "close"})

            def _answer(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
                data = body.encode()
                self.send_response(status)
                sent = {k.lower() for k in (headers or {})}
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                if "content-type" not in sent:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _head_bytes(self) -> int:
                return len(self.requestline.encode()) + sum(
                    len(f"{k}: {v}".encode()) for k, v in self.headers.items()
                )

            def _read_body(self) -> bytes | None:
                """The body by Content-Length or chunked framing; ValueError when framing is bad."""
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    chunks: list[bytes] = []
                    total = 0
                    while True:
                        size = int(self.rfile.readline(64).split(b";")[0].strip() or b"x", 16)
                        if size == 0:
                            self.rfile.readline(64)
                            break
                        total += size
                        if total > MAX_PAYLOAD_BYTES:
                            raise OverflowError
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline(64)
                    return b"".join(chunks) or None
                raw = self.headers.get("Content-Length")
                length = int(raw) if raw is not None else 0
                if length < 0:
                    raise ValueError("negative Content-Length")
                if length > MAX_PAYLOAD_BYTES:
                    raise OverflowError
                return self.rfile.read(length) if length else None

            def _handle(self) -> None:
                url = urlsplit(self.path)
                if self._head_bytes() > MAX_HEAD_BYTES:
                    self.close_connection = True
                    self._answer(413, json.dumps({"message": "Request Entity Too Large"}))
                    return
                try:
                    body = self._read_body()
                except OverflowError:
                    self.close_connection = True
                    self._answer(413, json.dumps({"message": "Request Entity Too Large"}))
                    return
                except ValueError:
                    self.close_connection = True
                    self._answer(400, json.dumps({"message": "Bad Request"}))
                    return
                if (self.command, url.path) == ("POST", "/_local/dlq/replay"):
                    self._answer(200, json.dumps(stack.replay_dlq()))
                    return
                if url.path in signin.PATHS:
                    status, headers, text = stack.sign_in.handle(self.command, url.path, url.query, body)
                    self._answer(status, text, headers)
                    return
                found = stack.template.route_for(self.command, url.path)
                with stack._counting:
                    stack.requests[found[0].route_key if found else "unrouted"] += 1
                if found is None:
                    # API Gateway answers unknown routes itself.
                    self._answer(404, json.dumps({"message": "Not Found"}))
                    return
                if not stack.ready.is_set():
                    error = {"error": {"code": "unavailable", "message": "the local stack is still starting"}}
                    self._answer(503, json.dumps(error), {"Retry-After": "1"})
                    return
                route, params = found
                claims = None
                if route.authorized:
                    try:
                        claims = tokens.verify(self.headers.get("Authorization"))
                    except tokens.InvalidToken as exc:
                        message = f"a valid bearer token is required ({exc})"
                        error = {"error": {"code": "unauthenticated", "message": message}}
                        self._answer(401, json.dumps(error), {"Content-Type": "application/json"})
                        return
                event = http_api_event(
                    self.command,
                    url.path,
                    route_key=route.route_key,
                    path_parameters=params,
                    query=url.query,
                    headers=dict(self.headers.items()),
                    body=body,
                    claims=claims,
                    source_ip=self.client_address[0],
                )
                try:
                    result = stack.invoke(route.function, event)
                except Throttled as exc:
                    _log(str(exc))  # API Gateway answers a throttled function itself
                    self._answer(503, json.dumps({"message": "Service Unavailable"}))
                    return
                except InvocationFailed:
                    self._answer(500, json.dumps({"message": "Internal Server Error"}))
                    return
                except Exception:
                    _log(traceback.format_exc())
                    self._answer(500, json.dumps({"message": "Internal Server Error"}))
                    return
                headers = dict(result.get("headers") or {})
                for cookie in result.get("cookies") or []:
                    headers.setdefault("Set-Cookie", cookie)
                text = result.get("body") or ""
                if result.get("isBase64Encoded"):
                    import base64

                    text = base64.b64decode(text).decode(errors="replace")
                self._answer(int(result.get("statusCode", 200)), text, headers)

            def __getattr__(self, name: str) -> Any:
                """Every method, known or invented, is routed (HEAD, OPTIONS, PATCH, BREW…)."""
                if name.startswith("do_"):
                    return self._handle
                raise AttributeError(name)

        return ApiGateway

    # --- demo and shutdown -------------------------------------------------------------------
    def seed_demo(self) -> dict[str, str]:
        """The demo conference, its catalog and a webhook endpoint on the emulator; returns tokens."""
        from local.demo import seed

        if self.fresh:
            seed(self)
            (self.data_dir / SEEDED_MARKER).write_text(datetime.now(UTC).isoformat() + "\n")
        else:
            self._resume_stripe()
        (self.data_dir / "runner.json").write_text(json.dumps({"api_url": self.api_url}) + "\n")
        self.ready.set()
        return {
            role: tokens.mint(sub, email=email, groups=groups)
            for role, (sub, email, groups) in DEMO_USERS.items()
        }

    def _resume_stripe(self) -> None:
        """Point the restored webhook endpoints at this run's API, and resend undelivered events."""
        from local.stripe_emulator import persistence

        if self.stripe is None:
            return
        previous = self.data_dir / "runner.json"
        if previous.is_file():
            old_url = json.loads(previous.read_text()).get("api_url", "")
            if old_url:
                persistence.rebase_webhook_urls(self.stripe, old_url + "/", self.api_url + "/")
        resent = persistence.redeliver_pending(self.stripe)
        if resent:
            _log(f"queued {resent} undelivered Stripe event(s) again")

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def stop(self) -> None:
        self._stop.set()
        if self.http is not None:
            self.http.shutdown()
            self.http.server_close()
        if self.stripe is not None:
            self.stripe.stop()
        if self.stripe_saver is not None:
            self.stripe_saver.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.environments is not None:
            self.environments.stop()
        self.moto.stop()
        self.dynamodb.stop()


def _banner(stack: LocalStack, issued: dict[str, str]) -> str:
    lines = [
        "",
        "Boxoffice is running locally.",
        f"  Console:         {stack.api_url}/  (sign in as admin, staff, sponsor or attendee)",
        f"  API:             {stack.api_url}  (try {stack.api_url}/v1/health)",
        f"  Stripe emulator: {stack.stripe.url if stack.stripe else 'not started'}",
        f"  OpenAPI:         {stack.api_url}/v1/openapi.json",
        f"  DynamoDB Local:  {stack.dynamodb.url}  (table {LOCAL_NAMES['table']})",
        f"  AWS (moto):      {stack.moto.url}  (bus {LOCAL_NAMES['bus']}, queues, Secrets Manager)",
        f"  Data:            {stack.data_dir}  ({'new: demo seeded' if stack.fresh else 'restored'};"
        " make reset starts clean)",
        "",
        "Tokens for the demo conference 'demo' (valid 7 days):",
    ]
    lines += [f"TOKEN_{role.upper()}={token}" for role, token in issued.items()]
    lines += [
        "",
        "Try first:",
        f'  curl -s {stack.api_url}/v1/conferences/demo/catalog -H "Authorization: Bearer $TOKEN_ATTENDEE"',
        f'  curl -s {stack.api_url}/v1/conferences/demo/catalog -H "Authorization: Bearer $TOKEN_STAFF"',
        "",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("BOXOFFICE_API_PORT", "3000")))
    parser.add_argument(
        "--stripe-port", type=int, default=int(os.environ.get("BOXOFFICE_STRIPE_PORT", "12111"))
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("BOXOFFICE_DATA_DIR") or DEFAULT_DATA_DIR),
        help="where the table, secrets and Stripe emulator state live across restarts",
    )
    parser.add_argument("--reset", action="store_true", help="delete the data folder first: start clean")
    args = parser.parse_args(argv)
    if args.reset and args.data_dir.exists():
        shutil.rmtree(args.data_dir)
        _log(f"reset: removed {args.data_dir}")
    stack = LocalStack(args.api_port, args.stripe_port, data_dir=args.data_dir)
    _log(f"data folder: {stack.data_dir} ({'new' if stack.fresh else 'restoring'})")
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        stack.start()
        issued = stack.seed_demo()
        print(_banner(stack, issued), flush=True)
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    except JavaMissing as exc:
        print(f"make run needs Java: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        _log("stopping")
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
