"""The hosted checkout page at `/checkout/{session_id}`: line items, total, four outcome buttons."""

from __future__ import annotations

from html import escape
from typing import Any

from .currencies import format_amount

_BUTTONS = (
    ("succeed", "Pay (card succeeds)"),
    ("decline", "Pay (card is declined)"),
    ("async_succeed", "Pay by bank debit (succeeds later)"),
    ("async_fail", "Pay by bank debit (fails later)"),
)

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;color:#1a1f36}
table{width:100%;border-collapse:collapse;margin:1rem 0}
td,th{padding:.4rem;border-bottom:1px solid #e3e8ee;text-align:left}
td.num,th.num{text-align:right}
.total{font-size:1.3rem;font-weight:600}
.notice{padding:.6rem;border-radius:4px;background:#fdecea;color:#8a1c1c}
.info{padding:.6rem;border-radius:4px;background:#eef4fd}
button{display:block;width:100%;margin:.4rem 0;padding:.7rem;font-size:1rem;cursor:pointer}
small{color:#697386}
"""


def render(session: dict[str, Any], line_items: list[dict[str, Any]], *, message: str | None = None) -> str:
    """The page for `session`; `message` is shown above the buttons (a decline, a refusal)."""
    currency = session["currency"]
    rows = "".join(
        "<tr>"
        f"<td>{escape(item['description'] or '')}</td>"
        f"<td class='num'>{item['quantity']}</td>"
        f"<td class='num'>{escape(format_amount(item['price']['unit_amount'], currency))}</td>"
        f"<td class='num'>{escape(format_amount(item['amount_total'], currency))}</td>"
        "</tr>"
        for item in line_items
    )
    total = escape(format_amount(session["amount_total"], currency))
    notice = f"<p class='notice' role='alert'>{escape(message)}</p>" if message else ""
    if session["status"] == "open":
        buttons = "".join(
            f"<button type='submit' name='outcome' value='{value}'>{escape(label)}</button>"
            for value, label in _BUTTONS
        )
        action = f"<form method='post' action='/checkout/{escape(session['id'])}'>{buttons}</form>"
    else:
        action = (
            f"<p class='info'>This Checkout Session is {escape(session['status'])} "
            f"(payment status: {escape(session['payment_status'])}).</p>"
        )
    cancel = (
        f"<p><a href='{escape(session['cancel_url'], quote=True)}'>&larr; Back</a></p>"
        if session.get("cancel_url")
        else ""
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Checkout {escape(session['id'])}</title><style>{_STYLE}</style></head><body>"
        f"{cancel}<h1>Stripe emulator checkout</h1>"
        f"<p><small>Session {escape(session['id'])} &middot; test mode</small></p>"
        "<table><thead><tr><th>Item</th><th class='num'>Qty</th><th class='num'>Unit price</th>"
        f"<th class='num'>Amount</th></tr></thead><tbody>{rows}</tbody></table>"
        f"<p class='total'>Total due <span id='total'>{total}</span></p>"
        f"{notice}{action}</body></html>"
    )


def not_found(session_id: str) -> str:
    """The page for an unknown session id."""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Not found</title></head>"
        f"<body><h1>No such Checkout Session</h1><p>{escape(session_id)}</p></body></html>"
    )
