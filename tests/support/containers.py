"""Racing the real handlers the way Lambda runs them: each racer in a warm container of its own.

Lambda never runs two invocations in one process at once, and the code relies on it: Powertools'
resolver keeps the current request in class attributes, so threads calling a handler in one
process would read each other's requests. Here each racer is a process, forked from a server that
imported every function once (a warm container's state), and all of them wait on one Barrier
before invoking, so their requests really meet at DynamoDB, Stripe and the bus.

Each container also counts what DynamoDB answered on every attempt (botocore's own retries
included): ``ConditionalCheckFailedException``, ``TransactionCanceledException`` and, inside a
cancelled transaction, each reason (``TransactionConflict``, ``ConditionalCheckFailed``). A race
test asserts those counts to show that the race was really run, not only that it ended well.
"""

import multiprocessing
import os
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.synchronize import Barrier
from typing import Any

ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "STRIPE_API_BASE", "TABLE_NAME")
"""Where the warm clients point: fixed when the container server starts, the same for every race."""

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["tests.support.container_preload"])


@dataclass(frozen=True)
class Invocation:
    """One call of ``functions/<function>``'s handler with ``event``, as Lambda would make it.

    ``attempts`` > 1 is Lambda's retry of an asynchronous invocation: while the handler raises,
    it is invoked again (after ``retry_delay`` seconds), up to ``attempts`` times in all.
    """

    function: str
    event: dict[str, Any]
    attempts: int = 1
    retry_delay: float = 0.05


@dataclass
class Outcome:
    """What one container's invocation ended with."""

    result: Any = None
    """The handler's return value (an API Gateway response for HTTP events)."""
    error: str | None = None
    """``Type: message`` of the exception the last attempt raised, if it raised."""
    attempts: int = 0
    dynamodb: Counter[str] = field(default_factory=Counter)
    """Error codes DynamoDB answered, per attempt, with each transaction cancellation reason."""

    @property
    def status(self) -> int | None:
        """The HTTP status of an API Gateway response, else None."""
        return self.result.get("statusCode") if isinstance(self.result, dict) else None


@dataclass
class Race:
    """Every racer's outcome, in the order the invocations were given."""

    outcomes: list[Outcome]
    alongside: list[Any] = field(default_factory=list)
    """What each ``alongside`` callable returned, or the exception it raised."""

    @property
    def dynamodb(self) -> Counter[str]:
        """DynamoDB's error answers summed over every container."""
        return sum((o.dynamodb for o in self.outcomes), Counter())

    @property
    def conflicts(self) -> int:
        """Writes DynamoDB refused because another racer got there first (conditions and conflicts)."""
        seen = self.dynamodb
        return sum(seen[code] for code in ("ConditionalCheckFailedException", "ConditionalCheckFailed")) + (
            seen["TransactionConflict"] + seen["TransactionConflictException"]
        )

    def statuses(self) -> Counter[int | None]:
        return Counter(o.status for o in self.outcomes)

    def errors(self) -> list[str]:
        return [o.error for o in self.outcomes if o.error]


_answers: Counter[str] = Counter()


def _count_answer(response: Any = None, **_: Any) -> None:
    """``needs-retry.dynamodb``: one call per HTTP attempt; tally its error code and reasons."""
    if not response:
        return
    error = (response[1] or {}).get("Error") or {}
    code = error.get("Code")
    if code:
        _answers[code] += 1
    for reason in (response[1] or {}).get("CancellationReasons") or []:
        if reason.get("Code") not in (None, "None"):
            _answers[reason["Code"]] += 1


def install_counter() -> None:
    """Every botocore session made from now on (PynamoDB's and boto3's) reports to ``_answers``."""
    from botocore import handlers

    spec = ("needs-retry.dynamodb", _count_answer)
    if spec not in handlers.BUILTIN_HANDLERS:
        handlers.BUILTIN_HANDLERS.append(spec)


def _warm(env: dict[str, str]) -> None:
    """Check the warm clients point where this race's environment does; open the DynamoDB connection."""
    from boxoffice import store
    from tests.support.container_preload import SERVER_ENDPOINTS

    wanted = {name: env.get(name) for name in ENDPOINT_VARIABLES}
    if wanted != SERVER_ENDPOINTS:
        raise RuntimeError(f"the container server started for {SERVER_ENDPOINTS}, this race needs {wanted}")
    store.get_conference("warm-up")


def _container(
    index: int, invocation: Invocation, env: dict[str, str], barrier: Barrier, results: Any
) -> None:
    """A container's life: take the environment, warm up, wait for the others, invoke."""
    from local.lambda_runtime import LambdaContext
    from tests.support.functions import load_function

    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the functions' JSON logs: tests read outcomes
    outcome = Outcome()
    try:
        os.environ.clear()
        os.environ.update(env)
        handler = load_function(invocation.function).handler
        _warm(env)
        _answers.clear()
        barrier.wait(timeout=60)
        for attempt in range(1, invocation.attempts + 1):
            outcome.attempts = attempt
            try:
                outcome.result, outcome.error = handler(invocation.event, LambdaContext()), None
                break
            except Exception as exc:
                outcome.error = f"{type(exc).__name__}: {exc}"
                if attempt < invocation.attempts:
                    time.sleep(invocation.retry_delay)
    except BaseException:
        outcome.error = traceback.format_exc()
    outcome.dynamodb = Counter(_answers)
    results.put((index, outcome))


def race(
    invocations: list[Invocation], alongside: Sequence[Callable[[], Any]] = (), timeout: float = 120
) -> Race:
    """Run each invocation in its own container, all released at once; wait for every outcome.

    ``alongside`` are actions of the outside world that race too (a customer paying on Stripe's
    page): each runs in a thread of this process, released by the same Barrier.
    """
    barrier = _CONTEXT.Barrier(len(invocations) + len(alongside))
    results = _CONTEXT.Queue()
    env = dict(os.environ)
    processes = [
        _CONTEXT.Process(target=_container, args=(i, inv, env, barrier, results), daemon=True)
        for i, inv in enumerate(invocations)
    ]
    done: list[Any] = [None] * len(alongside)

    def outside(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            done[i] = alongside[i]()
        except Exception as exc:
            done[i] = exc

    threads = [threading.Thread(target=outside, args=(i,)) for i in range(len(alongside))]
    for process in processes:
        process.start()
    for thread in threads:
        thread.start()
    outcomes: dict[int, Outcome] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(outcomes) < len(invocations):
            index, outcome = results.get(timeout=max(deadline - time.monotonic(), 0.1))
            outcomes[index] = outcome
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
        for thread in threads:
            thread.join(timeout=max(deadline - time.monotonic(), 1))
    return Race([outcomes[i] for i in range(len(invocations))], done)
