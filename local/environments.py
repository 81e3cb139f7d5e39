"""Lambda's execution environments for the local runner: one process per environment.

On AWS each invocation runs in an execution environment that serves one request at a time;
overlapping requests get more environments (cold starts), up to the function's reserved
concurrency, and an idle environment is reused while warm. Here an environment is a process
forked from a server that imported every function once (``local.environment_preload``), so two
requests really race at DynamoDB and Stripe, and a handler's module state (Powertools' current
event, cached clients and secrets) belongs to one environment, as on Lambda.

Every invocation gets a real context (its own request id and a deadline that counts down); one
that runs far past the function's timeout (``TIMEOUT_SLACK``) is killed with its environment, as
Lambda kills one at its timeout. Each
invocation is logged on stderr like Lambda's platform lines, naming its environment and how
many of the function's environments were busy at its start.

With ``BOXOFFICE_METER`` naming a module (``bench.usage`` for ``make bench-cost``), every
invocation runs inside that module's ``invocation()`` context, and what it measured comes back
with the result to ``Environments.on_usage``.
"""

import contextlib
import faulthandler
import importlib
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from local.lambda_runtime import LambdaContext
from local.template import Template

ACCOUNT_CONCURRENCY = 1000
"""Lambda's default account quota: the ceiling of a function that reserves nothing."""
TIMEOUT_SLACK = float(os.environ.get("BOXOFFICE_TIMEOUT_SLACK", "4"))
"""An invocation is killed at its timeout times this: Lambda gives each environment its own CPU,
while here every environment shares the laptop's few cores, so a burst of overlapping requests
can run slower than the real timeout without anything being wrong. The context still counts
down the real timeout, and an invocation that overruns it is logged as such."""
IDLE_SECONDS = float(os.environ.get("BOXOFFICE_IDLE_SECONDS", "300"))
"""An environment idle this long is ended, as Lambda reclaims idle ones (the next request is cold)."""

METER_VARIABLE = "BOXOFFICE_METER"
"""Names a module whose ``invocation()`` context wraps every invocation (and whose ``install()`` the
environment server calls before it makes any client); unset, nothing is measured."""

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["local.environment_preload"])


class Throttled(Exception):
    """Every environment the function may have is busy (Lambda's TooManyRequestsException)."""


class InvocationFailed(Exception):
    """The handler raised, timed out or its environment died; the message says which."""


def _log(message: str) -> None:
    print(f"[runner] {message}", file=sys.stderr, flush=True)


def _condition(name: str, template: Template, parameters: dict[str, str]) -> bool:
    return bool(_evaluate(template.raw.get("Conditions", {})[name], template, parameters))


def _evaluate(value: Any, template: Template, parameters: dict[str, str]) -> Any:
    """The few intrinsics a concurrency setting uses: Ref (parameters), If, Not, Equals, Condition."""
    if not (isinstance(value, dict) and len(value) == 1):
        return value
    ((kind, arg),) = value.items()
    if kind == "Ref":
        return None if arg == "AWS::NoValue" else parameters[arg]
    if kind == "Fn::If":
        name, then, otherwise = arg
        return _evaluate(then if _condition(name, template, parameters) else otherwise, template, parameters)
    if kind == "Fn::Not":
        return not _evaluate(arg[0], template, parameters)
    if kind == "Fn::Equals":
        left, right = (_evaluate(v, template, parameters) for v in arg)
        return str(left) == str(right)
    if kind == "Condition":
        return _condition(arg, template, parameters)
    raise ValueError(f"the local runner cannot evaluate {kind}")


def reserved_concurrency(template: Template, function_id: str) -> int | None:
    """The function's ReservedConcurrentExecutions as the template resolves it (None: unreserved).

    Parameters take their defaults; ``BOXOFFICE_<PARAMETER>`` in the environment overrides one
    (``BOXOFFICE_FunctionConcurrencyLimit=5``), as a deploy's parameter override would.
    """
    parameters = {
        name: os.environ.get(f"BOXOFFICE_{name}", str(spec.get("Default", "")))
        for name, spec in template.raw.get("Parameters", {}).items()
    }
    props = template.raw["Resources"][function_id].get("Properties", {})
    value = props.get(
        "ReservedConcurrentExecutions",
        template.raw.get("Globals", {}).get("Function", {}).get("ReservedConcurrentExecutions"),
    )
    resolved = _evaluate(value, template, parameters)
    return None if resolved is None else int(resolved)


def _ready() -> None:
    """Nothing: forking it proves the environment server has finished importing."""


def _serve(function_id: str, name: str, conn: Connection) -> None:
    """An environment's life: take invocations one at a time until told to stop."""
    from local.environment_preload import MODULES

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the runner, which ends its environments
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>` prints where a stuck invocation is
    handler = MODULES[function_id].handler
    metered = os.environ.get(METER_VARIABLE)
    measure = importlib.import_module(metered).invocation if metered else None
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        event, request_id, deadline, timeout = message
        context = LambdaContext(
            function_name=name,
            invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{name}",
            log_stream_name=f"local/{os.getpid()}",
            timeout_seconds=timeout,
            deadline=deadline,
        )
        meter = measure() if measure else contextlib.nullcontext()
        with meter as usage:
            try:
                reply: tuple[str, Any] = ("ok", handler(event, context))
            except Exception as exc:
                reply = ("error", (type(exc).__name__, str(exc), traceback.format_exc(limit=5)))
        conn.send((*reply, usage))


@dataclass
class Environment:
    """One execution environment: a process and the pipe to it."""

    number: int
    process: Any
    conn: Connection
    invocations: int = 0
    last_used: float = field(default_factory=time.monotonic)


@dataclass
class _Pool:
    limit: int
    idle: list[Environment] = field(default_factory=list)
    count: int = 0
    busy: int = 0
    started: int = 0


class Environments:
    """Every function's environments: reused while warm, started when requests overlap."""

    def __init__(self, template: Template) -> None:
        self.template = template
        self._lock = threading.Lock()
        self.on_usage: Callable[[str, dict[str, Any]], None] | None = None
        """Called with the function and what each invocation used, when environments are metered."""
        self._pools: dict[str, _Pool] = {}
        for function_id in template.functions:
            reserved = reserved_concurrency(template, function_id)
            self._pools[function_id] = _Pool(limit=reserved if reserved else ACCOUNT_CONCURRENCY)

    def start(self) -> None:
        """Start the environment server and wait until it has imported every function once.

        So the first request does not wait for those imports, and a slow import shows at start-up.

        Environments inherit the process environment as it is at this moment (the endpoints).
        """
        probe = _CONTEXT.Process(target=_ready, name="environment-server-probe", daemon=True)
        probe.start()  # returns once the server has imported every function and forked the probe
        probe.join(timeout=120)

    def limit(self, function_id: str) -> int:
        """How many environments the function may have at once."""
        return self._pools[function_id].limit

    def busy(self) -> int:
        """How many invocations are running now, over every function."""
        with self._lock:
            return sum(pool.busy for pool in self._pools.values())

    def _acquire(self, function_id: str) -> tuple[Environment, int]:
        pool = self._pools[function_id]
        with self._lock:
            if pool.idle:
                environment = pool.idle.pop()  # the most recently used: Lambda keeps that one warm
            elif pool.count < pool.limit:
                pool.count += 1
                pool.started += 1
                environment = None
                number = pool.started
            else:
                raise Throttled(
                    f"{function_id}: all {pool.limit} environments are busy (reserved concurrency)"
                )
            pool.busy += 1
            busy = pool.busy
        if environment is not None:
            return environment, busy
        return self._start(function_id, number), busy

    def _start(self, function_id: str, number: int) -> Environment:
        parent, child = _CONTEXT.Pipe()
        name = f"boxoffice-local-{function_id}"
        process = _CONTEXT.Process(
            target=_serve, args=(function_id, name, child), name=f"{function_id}#{number}", daemon=True
        )
        try:
            process.start()
        except BaseException:
            with self._lock:
                self._pools[function_id].count -= 1
                self._pools[function_id].busy -= 1
            raise
        child.close()
        return Environment(number, process, parent)

    def _release(self, function_id: str, environment: Environment, healthy: bool) -> None:
        pool = self._pools[function_id]
        with self._lock:
            pool.busy -= 1
            if healthy:
                environment.last_used = time.monotonic()
                pool.idle.append(environment)
                return
            pool.count -= 1
        self._end(environment)

    @staticmethod
    def _end(environment: Environment) -> None:
        environment.process.kill()
        environment.process.join(timeout=5)
        environment.conn.close()

    def reap(self) -> int:
        """End environments idle for IDLE_SECONDS or more; returns how many."""
        cutoff = time.monotonic() - IDLE_SECONDS
        ended: list[Environment] = []
        with self._lock:
            for pool in self._pools.values():
                stale = [e for e in pool.idle if e.last_used <= cutoff]
                pool.idle = [e for e in pool.idle if e.last_used > cutoff]
                pool.count -= len(stale)
                ended += stale
        for environment in ended:
            self._end(environment)
        return len(ended)

    def invoke(self, function_id: str, event: dict[str, Any]) -> Any:
        """Run one invocation in a free environment (a new one if none is idle); its result.

        Raises `Throttled` when the function is at its reserved concurrency, `InvocationFailed`
        when the handler raised, timed out, or its environment died.
        """
        timeout = self.template.functions[function_id].timeout
        environment, busy = self._acquire(function_id)
        request_id = str(uuid.uuid4())
        cold = environment.invocations == 0
        environment.invocations += 1
        where = f"{function_id} env#{environment.number} pid={environment.process.pid}"
        _log(f"{where} START RequestId: {request_id} Version: $LATEST cold={cold} busy={busy}")
        started = time.monotonic()
        healthy = False
        try:
            environment.conn.send((event, request_id, time.time() + timeout, timeout))
            if not environment.conn.poll(timeout * TIMEOUT_SLACK):
                limit = timeout * TIMEOUT_SLACK
                _log(f"{where} RequestId: {request_id} Task timed out after {limit:.2f} seconds")
                raise InvocationFailed(f"Task timed out after {limit:.2f} seconds")
            status, payload, usage = environment.conn.recv()
            healthy = True
        except (EOFError, OSError) as exc:
            _log(f"{where} RequestId: {request_id} the environment exited ({type(exc).__name__})")
            raise InvocationFailed(f"the execution environment exited ({type(exc).__name__})") from None
        finally:
            elapsed = (time.monotonic() - started) * 1000
            over = f" (over the {timeout} s timeout)" if elapsed > timeout * 1000 else ""
            _log(f"{where} END RequestId: {request_id} Duration: {elapsed:.1f} ms{over}")
            self._release(function_id, environment, healthy)
        if usage is not None and self.on_usage is not None:
            self.on_usage(function_id, {**usage, "status": status})
        if status == "error":
            kind, message, trace = payload
            _log(f"{where} {kind}: {message}\n{trace}")
            raise InvocationFailed(f"{kind}: {message}")
        return payload

    def stop(self) -> None:
        """End every idle environment (busy ones end with the runner: they are daemons)."""
        with self._lock:
            environments = [e for pool in self._pools.values() for e in pool.idle]
            for pool in self._pools.values():
                pool.idle.clear()
        for environment in environments:
            with contextlib.suppress(OSError):
                environment.conn.send(None)
        for environment in environments:
            environment.process.join(timeout=2)
            if environment.process.is_alive():
                environment.process.kill()
