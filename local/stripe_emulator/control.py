"""`/_emulator/...`: the fault-injection and control knobs over HTTP (JSON, no auth).

Each endpoint calls the `StripeEmulator` method of the same name; see README.md for the list.
Bodies may be JSON or form-encoded; query parameters work too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import forms
from .checkout import PaymentRefused
from .errors import StripeError

if TYPE_CHECKING:
    from .emulator import StripeEmulator

type Args = dict[str, Any]
type Action = Callable[["StripeEmulator", Args, str | None], Any]

KNOBS: dict[str, str] = {
    "GET /_emulator": "this help, plus the current knob values",
    "POST /_emulator/fail_next": '{"n": 1, "mode": "500" | "reset" | "reset_after"}',
    "POST /_emulator/duplicate_next_delivery": '{"n": 1}',
    "POST /_emulator/hold_events": "{}",
    "POST /_emulator/release_events": '{"reverse": false}',
    "POST /_emulator/delivery_delay": '{"seconds": 0.5}',
    "POST /_emulator/advance_clock": '{"seconds": 3600}',
    "GET /_emulator/clock": "the emulator's current time",
    "POST /_emulator/reset": "drop all state and knobs",
    "GET /_emulator/deliveries": "webhook delivery attempts (?event_id=, ?endpoint_id=)",
    "POST /_emulator/checkout/{session_id}/pay": '{"outcome": "succeed|decline|async_succeed|async_fail"}',
    "POST /_emulator/checkout/{session_id}/complete_async": "fire a pending async payment result now",
    "POST /_emulator/refunds/{refund_id}/fail": '{"failure_reason": "lost_or_stolen_card"}',
    "POST /_emulator/charges/{charge_or_payment_intent_id}/dispute": '{"amount": null, "reason": "fraudulent"}',
    "POST /_emulator/disputes/{dispute_id}/close": '{"status": "won" | "lost"}',
    "POST /_emulator/config": '{"async_payment_delay", "refund_failure_delay", "delivery_retry_delays", '
    '"delivery_timeout"}',
}


class _BadInput(Exception):
    pass


def _number(args: Args, name: str, default: float | None = None) -> float:
    value = args.get(name, default)
    if value is None:
        raise _BadInput(f"{name} is required")
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise _BadInput(f"{name} must be a number") from exc
    if number < 0:
        raise _BadInput(f"{name} must be >= 0")
    return number


def _flag(args: Args, name: str) -> bool:
    value = args.get(name, False)
    return value is True or str(value).lower() in ("1", "true", "yes")


def _help(emu: StripeEmulator, args: Args, _: str | None) -> Any:
    return {"knobs": KNOBS, "state": emu.knob_state()}


def _fail_next(emu: StripeEmulator, args: Args, _: str | None) -> Any:
    emu.fail_next(int(_number(args, "n", 1)), str(args.get("mode", "500")))
    return {"ok": True, "pending_failures": emu.faults.pending()}


def _duplicate(emu: StripeEmulator, args: Args, _: str | None) -> Any:
    emu.duplicate_next_delivery(int(_number(args, "n", 1)))
    return {"ok": True}


def _hold(emu: StripeEmulator, args: Args, _: str | None) -> Any:
    emu.hold_events()
    return {"ok": True}


def _release(emu: StripeEmulator, args: Args, _: str | None) -> Any:
    return {"ok": True, "released": emu.release_events(reverse=_flag(args, "reverse"))}


def _delay(emu: StripeEmulator, args: Args, _: str | None) -> Any:
    emu.set_delivery_delay(_number(args, "seconds"))
    return {"ok": True}


def _advance(emu: StripeEmulator, args: Args, _: str | None) -> Any:
    emu.advance_clock(_number(args, "seconds"))
    return {"ok": True, "now": emu.clock.timestamp()}


def _clock(emu: StripeEmulator, args: Args, _: str | None) -> Any:
    return {"now": emu.clock.timestamp(), "offset": emu.clock.offset}


def _reset(emu: StripeEmulator, args: Args, _: str | None) -> Any:
    emu.reset()
    return {"ok": True}


def _deliveries(emu: StripeEmulator, args: Args, _: str | None) -> Any:
    records = emu.deliveries()
    for key in ("event_id", "endpoint_id", "event_type"):
        if key in args:
            records = [r for r in records if r[key] == args[key]]
    return {"object": "list", "data": records}


def _pay(emu: StripeEmulator, args: Args, session_id: str | None) -> Any:
    redirect = emu.pay(session_id or "", str(args.get("outcome", "")))
    return {"ok": True, "declined": redirect is None, "redirect_url": redirect}


def _complete_async(emu: StripeEmulator, args: Args, session_id: str | None) -> Any:
    emu.complete_async(session_id or "")
    return {"ok": True}


def _fail_refund(emu: StripeEmulator, args: Args, refund_id: str | None) -> Any:
    return emu.fail_refund(refund_id or "", str(args.get("failure_reason", "lost_or_stolen_card")))


def _open_dispute(emu: StripeEmulator, args: Args, charge: str | None) -> Any:
    amount = args.get("amount")
    if amount is not None:
        try:
            amount = int(amount)
        except (TypeError, ValueError) as exc:
            raise _BadInput("amount must be an integer (minor units)") from exc
    return emu.open_dispute(charge or "", amount, str(args.get("reason", "fraudulent")))


def _close_dispute(emu: StripeEmulator, args: Args, dispute_id: str | None) -> Any:
    if "status" not in args:
        raise _BadInput("status is required: won or lost")
    return emu.close_dispute(dispute_id or "", str(args["status"]))


def _config(emu: StripeEmulator, args: Args, _: str | None) -> Any:
    delays = args.get("delivery_retry_delays")
    if isinstance(delays, dict):
        delays = [delays[key] for key in sorted(delays, key=int)]
    emu.configure(
        async_payment_delay=_number(args, "async_payment_delay") if "async_payment_delay" in args else None,
        refund_failure_delay=_number(args, "refund_failure_delay")
        if "refund_failure_delay" in args
        else None,
        delivery_retry_delays=[float(d) for d in delays] if delays is not None else None,
        delivery_timeout=_number(args, "delivery_timeout") if "delivery_timeout" in args else None,
    )
    return {"ok": True, "state": emu.knob_state()}


_ID = r"(?P<id>[^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], Action]] = [
    (method, re.compile(pattern), action)
    for method, pattern, action in (
        ("GET", "/_emulator/?", _help),
        ("POST", "/_emulator/fail_next", _fail_next),
        ("POST", "/_emulator/duplicate_next_delivery", _duplicate),
        ("POST", "/_emulator/hold_events", _hold),
        ("POST", "/_emulator/release_events", _release),
        ("POST", "/_emulator/delivery_delay", _delay),
        ("POST", "/_emulator/advance_clock", _advance),
        ("GET", "/_emulator/clock", _clock),
        ("POST", "/_emulator/reset", _reset),
        ("GET", "/_emulator/deliveries", _deliveries),
        ("POST", f"/_emulator/checkout/{_ID}/pay", _pay),
        ("POST", f"/_emulator/checkout/{_ID}/complete_async", _complete_async),
        ("POST", f"/_emulator/refunds/{_ID}/fail", _fail_refund),
        ("POST", f"/_emulator/charges/{_ID}/dispute", _open_dispute),
        ("POST", f"/_emulator/disputes/{_ID}/close", _close_dispute),
        ("POST", "/_emulator/config", _config),
    )
]


def _arguments(query: str, body: bytes, content_type: str) -> Args:
    args: Args = dict(forms.decode(query)) if query else {}
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return args
    if "json" in content_type or text.startswith("{"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _BadInput(f"invalid JSON body: {exc}") from exc
        if not isinstance(parsed, dict):
            raise _BadInput("the JSON body must be an object")
        args.update(parsed)
    else:
        args.update(forms.decode(text))
    return args


def _error(status: int, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"type": "invalid_request_error", "message": message}}


def handle(
    emu: StripeEmulator, method: str, path: str, query: str, body: bytes, content_type: str
) -> tuple[int, Any]:
    """Run one control request; returns `(status, JSON payload)`."""
    for route_method, pattern, action in _ROUTES:
        found = pattern.fullmatch(path)
        if found is None or route_method != method:
            continue
        try:
            return 200, action(emu, _arguments(query, body, content_type), found.groupdict().get("id"))
        except StripeError as exc:
            return exc.status, exc.body()
        except (_BadInput, PaymentRefused, ValueError) as exc:
            return _error(409 if isinstance(exc, PaymentRefused) else 400, str(exc))
    return _error(404, f"Unknown emulator control endpoint: {method} {path}. GET /_emulator lists them.")
