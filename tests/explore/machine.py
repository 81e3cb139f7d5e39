"""The state machine: what users, staff, Stripe and the network do, and the books after each step.

Every rule acts through the real handlers (or the emulator's hosted page, knobs and SDK, for what
Stripe and the bank do). After each rule the world settles (what the network is not holding is
delivered, the processors run) and the oracle must find no break. The comparison with Stripe is
skipped only while the network holds or has lost events, which is when the books may lag.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import hypothesis.strategies as st
import stripe
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.explore import oracle
from tests.explore.world import CATALOG, CID, CONFERENCE, STATS, InjectedCrash, World
from tests.support.http import ADMIN, ATTENDEE, ATTENDEE_URLS, SPONSOR_URLS, STAFF, Reply

STAFF_2 = {"sub": "user-staff-3", "email": "staff3@example.com", "cognito:groups": ["staff:demo"]}
ORDERS = f"/v1/conferences/{CID}/orders"
BULK = f"/v1/conferences/{CID}/bulk-purchases"
PRICES = {"general": 25000, "workshop": 5000}

FAULTS = st.sampled_from(
    [None, None, None, ("500", 1), ("500", 3), ("reset", 3), ("reset_after", 1), ("reset_after", 3)]
)
"""Stripe's answers to the app's next calls: none, a 500 the SDK retries past, every try failing,
or the work done and the answer lost (``reset_after``)."""
PICK = st.integers(min_value=0, max_value=1_000)
"""An index into a list of things that exist, taken modulo its length (shrinks toward the first)."""
CRASHES = st.sampled_from(
    [
        ("boxoffice.stripe_gateway", "create_refund", "after"),
        ("boxoffice.stripe_gateway", "create_refund", "before"),
        ("boxoffice.refunds.phases", "complete", "before"),
        ("boxoffice.refunds.phases", "_reserve", "after"),
    ]
)
"""Where a refund can die between two phases: Stripe refunded but we never heard, before Stripe,
after the reservation, before completion."""


KNOWN = frozenset(filter(None, os.environ.get("EXPLORE_KNOWN", "").split(",")))
"""Invariants whose breaks are known and being fixed: counted, not failed, so exploration goes past them."""


def _pick(items: list[Any], index: int) -> Any:
    return items[index % len(items)]


class World_:
    world: World | None = None


class BooksMachine(RuleBasedStateMachine):
    """Orders, codes, payments, refunds and credit under Stripe's and the network's behaviour."""

    def __init__(self) -> None:
        super().__init__()
        assert World_.world is not None, "the explore lane's fixture sets the world"
        self.world = World_.world
        self.orders: list[str] = []
        self.sessions: list[str] = []
        self.purchases: list[str] = []
        self.keys: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        self.previous: str | None = None
        self.lost = False
        self.release_after: tuple[int, bool] | None = None

    # -- bookkeeping ------------------------------------------------------------------------------

    def _step(self, name: str) -> None:
        STATS.rule(name, self.previous)
        self.previous = name
        if self.release_after is not None and name != "network_holds_events":
            steps, reverse = self.release_after
            if steps <= 1:
                self._release(reverse)  # the held deliveries arrive before this step acts
            else:
                self.release_after = (steps - 1, reverse)

    def _faulted(self, fault: tuple[str, int] | None) -> None:
        if fault is not None:
            self.world.emulator.fail_next(fault[1], fault[0])

    def _clear_faults(self) -> None:
        self.world.emulator.faults.reset()

    def _order(self, order_id: str) -> dict[str, Any]:
        reply = self.world.api("GET", f"{ORDERS}/{order_id}", claims=STAFF)
        assert reply.status == 200, reply.text
        return reply.json

    def _outcome(self, name: str, reply: Reply) -> None:
        assert reply.status < 500 or reply.status in (502, 503), f"{name}: {reply.status} {reply.text}"
        STATS.outcome(f"{name}:{reply.status}")

    @initialize(seed=st.sampled_from(["paid", "paid", "paid_and_credit", "none"]))
    def fresh_world(self, seed: str = "none") -> None:
        """A fresh world; most examples start with a paid order (and some with store credit to spend),
        so refunds, credit and crashes act on money from the first step."""
        self.world.reset()
        STATS.examples += 1
        if seed == "none":
            return
        paid = self._seed_order(tickets=1, workshops=1, pay="succeed")
        STATS.outcome(f"seed:{seed}")
        if seed == "paid_and_credit" and paid is not None:
            body = {"amount": 10000, "reason": "requested_by_customer", "destination": "store_credit"}
            reply = self.world.api("POST", f"{ORDERS}/{paid}/refunds", body, STAFF, function="refunds")
            assert reply.status == 201, reply.text
            self._seed_order(tickets=1, workshops=0, pay=None)  # an order the credit can go to
        self.world.settle()

    def _seed_order(self, tickets: int, workshops: int, pay: str | None) -> str | None:
        lines: list[dict[str, Any]] = [{"addon_id": "workshop", "quantity": workshops}] if workshops else []
        lines.insert(0, {"ticket_type_id": "general", "quantity": tickets})
        reply = self.world.api("POST", ORDERS, {"lines": lines}, ATTENDEE, function="checkout")
        assert reply.status == 201, reply.text
        order_id = str(reply.json["id"])
        self.orders.append(order_id)
        if pay is None:
            return order_id
        reply = self.world.api(
            "POST", f"{ORDERS}/{order_id}/checkout", ATTENDEE_URLS, ATTENDEE, function="checkout"
        )
        assert reply.status == 200, reply.text
        self.sessions.append(reply.json["session_id"])
        self._pay(reply.json["session_id"], pay)
        self.world.settle()
        assert self._order(order_id)["status"] == "paid", "the seed order was not paid"
        return order_id

    def _listed_orders(self) -> list[dict[str, Any]]:
        reply = self.world.api("GET", ORDERS, claims=STAFF, query="limit=200")
        assert reply.status == 200, reply.text
        return list(reply.json["items"])

    def _orders_with_money(self) -> list[str]:
        """Orders that still hold money to refund; all orders when none does (refusals are explored too)."""
        found = [
            str(o["id"])
            for o in self._listed_orders()
            if int(o["amount_paid"]) - int(o["amount_refunded"]) > 0
        ]
        return found or self.orders

    # -- sponsors ---------------------------------------------------------------------------------

    @rule(
        paid=st.booleans(),
        quantity=st.integers(1, 3),
        max_uses=st.sampled_from([1, 3]),
        voucher=st.sampled_from(["comp", "percentage"]),
        outcome=st.sampled_from(["succeed", "succeed", "async_succeed", "async_fail", "decline"]),
    )
    def sponsor_buys_codes(
        self, paid: bool, quantity: int, max_uses: int, voucher: str, outcome: str
    ) -> None:
        """A bulk purchase of general-ticket codes: paid through Checkout, or a comp deal staff grant."""
        self._step("sponsor_buys_codes")
        config: dict[str, Any] = {"voucher_type": voucher, "max_uses": max_uses}
        if voucher == "percentage":
            config["discount_value"] = 50
        body = {
            "sponsor_id": "acme",
            "quantity": quantity,
            "ticket_type_id": "general",
            "unit_price": 20000 if paid else 0,
            "voucher_config": config,
        }
        reply = self.world.api("POST", BULK, body, STAFF, function="checkout")
        if reply.status == 409 and reply.json["error"]["code"] == "sold_out":
            STATS.outcome("bulk_create:sold_out")  # the block does not fit what is left
            return
        assert reply.status == 201, reply.text
        pid = reply.json["id"]
        self.purchases.append(pid)
        if paid:
            reply = self.world.api("POST", f"{BULK}/{pid}/checkout", SPONSOR_URLS, STAFF, function="checkout")
            self._outcome("bulk_checkout", reply)
            if reply.status == 200:
                self.sessions.append(reply.json["session_id"])
                self._pay(reply.json["session_id"], outcome)
        else:
            self._outcome(
                "bulk_approve",
                self.world.api("POST", f"{BULK}/{pid}/approve", None, STAFF, function="checkout"),
            )
            self._outcome(
                "bulk_fulfill",
                self.world.api("POST", f"{BULK}/{pid}/fulfill", None, STAFF, function="fulfillment"),
            )

    @precondition(lambda self: self.purchases)
    @rule(pick=PICK, part=st.sampled_from([None, 5000, 10000]), key=st.booleans())
    def staff_refund_purchase(self, pick: int, part: int | None, key: bool) -> None:
        self._step("staff_refund_purchase")
        pid = _pick(self.purchases, pick)
        body: dict[str, Any] = {"reason": "requested_by_customer"}
        if part is not None:
            body["amount"] = part
        headers = {"Idempotency-Key": uuid.uuid4().hex} if key else None
        reply = self.world.api(
            "POST", f"{BULK}/{pid}/refund", body, STAFF, function="refunds", headers=headers
        )
        self._outcome("bulk_refund", reply)

    # -- attendees --------------------------------------------------------------------------------

    def _codes(self) -> list[str]:
        found: list[str] = []
        for pid in self.purchases:
            reply = self.world.api("GET", f"{BULK}/{pid}/vouchers", claims=STAFF)
            if reply.status == 200:
                found.extend(v["code"] for v in reply.json["items"])
        return found

    @rule()
    def attendee_buys_a_ticket(self) -> None:
        """An attendee orders one ticket and pays it by card: money in, for the other rules to act on.

        The only rule without arguments, on purpose: Hypothesis draws its simplest rule (fewest
        arguments, then name) far more often than the others, so that rule should be the one whose
        repetition builds the most worth exploring (a sweep, which it once was, ran a third of all steps)."""
        self._step("attendee_buys_a_ticket")
        reply = self.world.api(
            "POST",
            ORDERS,
            {"lines": [{"ticket_type_id": "general", "quantity": 1}]},
            ATTENDEE,
            function="checkout",
        )
        self._outcome("order_create", reply)
        if reply.status != 201:
            return
        order_id = str(reply.json["id"])
        self.orders.append(order_id)
        reply = self.world.api(
            "POST", f"{ORDERS}/{order_id}/checkout", ATTENDEE_URLS, ATTENDEE, function="checkout"
        )
        self._outcome("order_checkout", reply)
        if reply.status == 200:
            self.sessions.append(reply.json["session_id"])
            self._pay(reply.json["session_id"], "succeed")

    @rule(
        tickets=st.integers(0, 3),
        workshops=st.integers(0, 2),
        with_code=st.booleans(),
        pick=PICK,
    )
    def attendee_orders(self, tickets: int, workshops: int, with_code: bool, pick: int) -> None:
        """An order of tickets and workshops, with a sponsor's code or without."""
        self._step("attendee_orders")
        lines = []
        if tickets:
            lines.append({"ticket_type_id": "general", "quantity": tickets})
        if workshops or not lines:
            lines.append({"addon_id": "workshop", "quantity": workshops or 1})
        body: dict[str, Any] = {"lines": lines}
        if with_code:
            codes = self._codes()
            if codes:
                body["voucher_code"] = _pick(codes, pick)
        reply = self.world.api("POST", ORDERS, body, ATTENDEE, function="checkout")
        self._outcome("order_create", reply)
        if reply.status == 409 and reply.json["error"]["code"] == "sold_out":
            STATS.outcome("order_create:sold_out")
        if reply.status == 201:
            self.orders.append(reply.json["id"])

    @precondition(lambda self: self.orders)
    @rule(
        pick=PICK,
        fault=FAULTS,
        tabs=st.sampled_from([1, 1, 2]),
        pay=st.sampled_from([None, "succeed", "succeed", "async_succeed", "decline"]),
    )
    def attendee_checks_out(
        self, pick: int, fault: tuple[str, int] | None, tabs: int, pay: str | None
    ) -> None:
        """Checkout of a pending order (``tabs`` = 2: the same call from two tabs)."""
        self._step("attendee_checks_out")
        order_id = _pick(self.orders, pick)
        opened: list[str] = []
        for _ in range(tabs):  # every tab opens its page before any is paid
            self._faulted(fault)
            reply = self.world.api(
                "POST", f"{ORDERS}/{order_id}/checkout", ATTENDEE_URLS, ATTENDEE, function="checkout"
            )
            self._clear_faults()
            self._outcome("order_checkout", reply)
            if reply.status == 200:
                opened.append(reply.json["session_id"])
                if reply.json["session_id"] not in self.sessions:
                    self.sessions.append(reply.json["session_id"])
        if tabs == 2 and len(opened) == 2:
            STATS.outcome("two_tabs:" + ("same_session" if opened[0] == opened[1] else "two_sessions"))
        if pay is None:
            return
        paid = sum(self._pay(session_id, pay) for session_id in dict.fromkeys(opened))
        if tabs == 2 and paid == 2 and pay == "succeed":
            STATS.outcome("two_tabs:both_paid")

    @rule(pick=PICK, kind=st.sampled_from(["order", "purchase"]))
    def another_tab_pays(self, pick: int, kind: str) -> None:
        """A second tab's Checkout Session for an order or purchase is paid at Stripe: a page opened
        before the first was paid, or before a cancel, and paid after it (money nobody may keep)."""
        self._step("another_tab_pays")
        from tests.support.stripe import another_paid_session

        if kind == "order" and self.orders:
            order = self._order(_pick(self.orders, pick))
            metadata = {"order_id": order["id"], "conference_id": CID, "reference": order["reference"]}
            amount = int(order["total"])
        elif kind == "purchase" and self.purchases:
            reply = self.world.api("GET", f"{BULK}/{_pick(self.purchases, pick)}", claims=STAFF)
            assert reply.status == 200, reply.text
            metadata = {"bulk_purchase_id": reply.json["id"], "conference_id": CID, "sponsor_id": "acme"}
            amount = int(reply.json["total_amount"])
        else:
            STATS.outcome(f"another_tab:{kind}:none")
            return
        if amount <= 0:
            STATS.outcome(f"another_tab:{kind}:free")
            return
        another_paid_session(self.world.stripe, self.world.emulator, metadata, amount)
        STATS.outcome(f"another_tab:{kind}:paid")

    # -- capacity ---------------------------------------------------------------------------------

    @rule(
        item=st.sampled_from(["general", "workshop", "venue"]),
        capacity=st.sampled_from([None, 0, 1, 2, 3, 5, 8]),
    )
    def staff_changes_capacity(self, item: str, capacity: int | None) -> None:
        """Staff set or lift a capacity; lowering it below what is held is refused (409)."""
        self._step("staff_changes_capacity")
        if item == "venue":
            body: dict[str, Any] = {**CONFERENCE, "ticket_capacity": capacity}
            reply = self.world.api("PUT", f"/v1/conferences/{CID}", body, ADMIN)
        else:
            path, body = CATALOG[item]
            reply = self.world.api(
                "PUT", f"/v1/conferences/{CID}/{path}", {**body, "capacity": capacity}, STAFF
            )
        assert reply.status in (200, 409), reply.text
        STATS.outcome(f"capacity_{item}:{reply.status}")

    @rule(active=st.booleans())
    def staff_pauses_sales(self, active: bool) -> None:
        """Staff deactivate the conference, or reactivate it: sales stop, but the money already in
        flight (open checkouts, refunds, disputes) must still reach the books."""
        self._step("staff_pauses_sales")
        reply = self.world.api("PUT", f"/v1/conferences/{CID}", {**CONFERENCE, "is_active": active}, ADMIN)
        assert reply.status == 200, reply.text
        STATS.outcome(f"conference_active:{active}")

    def _pay(self, session_id: str, outcome: str) -> bool:
        """Submit the hosted page; True when the page took the payment (whatever the card then did)."""
        from local.stripe_emulator.checkout import PaymentRefused

        try:
            self.world.emulator.pay(session_id, outcome)
            STATS.outcome(f"pay:{outcome}")
            return True
        except PaymentRefused:
            STATS.outcome("pay:refused")
            return False

    @precondition(lambda self: self.sessions)
    @rule(
        pick=PICK, outcome=st.sampled_from(["succeed", "succeed", "decline", "async_succeed", "async_fail"])
    )
    def customer_pays(self, pick: int, outcome: str) -> None:
        """The customer submits the hosted page of any session (paying both tabs included)."""
        self._step("customer_pays")
        self._pay(_pick(self.sessions, pick), outcome)

    @precondition(lambda self: self.sessions)
    @rule(pick=PICK)
    def bank_settles_async_payment(self, pick: int) -> None:
        self._step("bank_settles_async_payment")
        try:
            self.world.emulator.complete_async(_pick(self.sessions, pick))
            STATS.outcome("async:completed")
        except Exception:  # no async payment is pending on that session: nothing to settle
            STATS.outcome("async:nothing_pending")

    @precondition(lambda self: self.orders)
    @rule(pick=PICK, fault=FAULTS, by_staff=st.booleans())
    def order_cancelled(self, pick: int, fault: tuple[str, int] | None, by_staff: bool) -> None:
        self._step("order_cancelled")
        self._faulted(fault)
        claims = STAFF if by_staff else ATTENDEE
        reply = self.world.api(
            "POST", f"{ORDERS}/{_pick(self.orders, pick)}/cancel", None, claims, function="checkout"
        )
        self._clear_faults()
        self._outcome("order_cancel", reply)

    @precondition(lambda self: self.orders)
    @rule(pick=PICK, credit_pick=PICK)
    def attendee_applies_credit(self, pick: int, credit_pick: int) -> None:
        self._step("attendee_applies_credit")
        reply = self.world.api("GET", f"/v1/conferences/{CID}/credits", claims=ATTENDEE)
        assert reply.status == 200, reply.text
        credits = [c["id"] for c in reply.json["items"] if int(c["remaining_amount"]) > 0]
        credits = credits or [c["id"] for c in reply.json["items"]]
        if not credits:
            STATS.outcome("credit_apply:none")
            return
        pending = [str(o["id"]) for o in self._listed_orders() if o["status"] == "pending"]
        body = {"order_id": _pick(pending or self.orders, pick)}
        reply = self.world.api(
            "POST",
            f"/v1/conferences/{CID}/credits/{_pick(credits, credit_pick)}/apply",
            body,
            ATTENDEE,
            function="refunds",
        )
        self._outcome("credit_apply", reply)

    # -- staff refunds ---------------------------------------------------------------------------

    def _refund_body(self, order_id: str, share: str, destination: str) -> dict[str, Any] | None:
        order = self._order(order_id)
        left = int(order["amount_paid"]) - int(order["amount_refunded"])
        amount = {
            "all": left,
            "half": (left // 2) // 100 * 100,
            "small": 1000,
            "magic": 1013,
            "over": left + 100,
        }[share]
        if amount <= 0:
            return None
        return {"amount": amount, "reason": "requested_by_customer", "destination": destination}

    @precondition(lambda self: self.orders)
    @rule(
        plan=st.fixed_dictionaries(
            {
                "pick": PICK,
                "share": st.sampled_from(["all", "half", "small", "magic", "over"]),
                "destination": st.sampled_from(["card", "card", "store_credit"]),
                "key": st.sampled_from(["none", "new", "repeat", "other_staff"]),
                "fault": FAULTS,
            }
        )
    )
    def staff_refund(self, plan: dict[str, Any]) -> None:
        """``staff_refunds_order`` with its choices in one argument: Hypothesis draws rules with fewer
        arguments more often, and money going out is what most needs exploring."""
        self.staff_refunds_order(**plan)

    def staff_refunds_order(
        self, pick: int, share: str, destination: str, key: str, fault: tuple[str, int] | None
    ) -> None:
        """A staff refund; ``repeat`` sends the last keyed request again, ``other_staff`` its key from someone else."""
        self._step("staff_refunds_order")
        if key in ("repeat", "other_staff") and self.keys:
            path, headers, body = self.keys[-1]
            claims = STAFF if key == "repeat" else STAFF_2
        else:
            order_id = _pick(self._orders_with_money(), pick)
            maybe = self._refund_body(order_id, share, destination)
            if maybe is None:
                STATS.outcome("order_refund:nothing_left")
                return
            body, claims = maybe, STAFF
            path = f"{ORDERS}/{order_id}/refunds"
            headers = {"Idempotency-Key": uuid.uuid4().hex} if key != "none" else {}
            if headers:
                self.keys.append((path, headers, body))
        self._faulted(fault)
        reply = self.world.api("POST", path, body, claims, function="refunds", headers=headers)
        self._clear_faults()
        self._outcome(f"order_refund_{body['destination']}", reply)

    @rule(pick=PICK, share=st.sampled_from(["all", "part"]))
    def staff_refunds_stray_money(self, pick: int, share: str) -> None:
        """Staff refund money that is not an order's own payment (a second tab, a payment after a
        cancel) by naming the payment; naming an own payment is refused (422)."""
        self._step("staff_refunds_stray_money")
        flagged = [o for o in self._listed_orders() if o.get("attention")]
        if not flagged:
            STATS.outcome("stray_refund:none")
            return
        order = _pick(flagged, pick)
        payments = [p for p in order["payments"] if p["method"] == "stripe" and p["status"] == "succeeded"]
        if not payments:
            STATS.outcome("stray_refund:no_payment")
            return
        payment = _pick(payments, pick // 7)
        body = {
            "amount": int(payment["amount"]) if share == "all" else 1000,
            "reason": "duplicate",
            "destination": "card",
            "payment_id": payment["id"],
        }
        reply = self.world.api("POST", f"{ORDERS}/{order['id']}/refunds", body, STAFF, function="refunds")
        self._outcome("stray_refund", reply)

    @precondition(lambda self: self.orders)
    @rule(
        pick=PICK,
        crash=CRASHES,
        destination=st.sampled_from(["card", "store_credit"]),
        recovery=st.sampled_from(["retry", "sweep"]),
    )
    def refund_crashes_then_recovers(
        self, pick: int, crash: tuple[str, str, str], destination: str, recovery: str
    ) -> None:
        """A refund dies between two phases; the same request is retried with its key, or the sweep runs."""
        self._step("refund_crashes_then_recovers")
        order_id = _pick(self._orders_with_money(), pick)
        body = self._refund_body(order_id, "half", destination)
        if body is None:
            STATS.outcome("crash_refund:nothing_left")
            return
        before = int(self._order(order_id)["amount_refunded"])
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        path = f"{ORDERS}/{order_id}/refunds"
        with self.world.crash_once(*crash) as fired:
            try:
                reply = self.world.api("POST", path, body, STAFF, function="refunds", headers=headers)
                STATS.outcome(f"crash_refund:{reply.status}")
            except InjectedCrash:
                STATS.outcome("crash_refund:raised")
        STATS.outcome(f"crash_fired:{fired['fired']}")
        if recovery == "retry":
            reply = self.world.api("POST", path, body, STAFF, function="refunds", headers=headers)
            self._outcome("crash_refund_retry", reply)
        else:
            self.world.advance(11 * 60)
            self.world.sweep()
        self.world.settle()
        after = int(self._order(order_id)["amount_refunded"])
        STATS.outcome(f"crash_recovered:{recovery}:" + ("refunded" if after > before else "not_refunded"))

    # -- Stripe's dashboard and the bank -------------------------------------------------------------

    def _intents(self) -> list[dict[str, Any]]:
        page = self.world.stripe.v1.payment_intents.list(params={"limit": 100})
        return [i.to_dict() for i in page.auto_paging_iter() if i.status == "succeeded"]

    @rule(pick=PICK, share=st.sampled_from(["all", "part"]))
    def dashboard_refund(self, pick: int, share: str) -> None:
        """Someone refunds a payment in Stripe's dashboard (no metadata of ours on the refund)."""
        self._step("dashboard_refund")
        intents = self._intents()
        if not intents:
            STATS.outcome("dashboard_refund:none")
            return
        intent = _pick(intents, pick)
        charge = self.world.stripe.v1.charges.retrieve(intent["latest_charge"]).to_dict()
        left = int(charge["amount"]) - int(charge["amount_refunded"])
        amount = left if share == "all" else min(left, 1000)
        if amount <= 0:
            STATS.outcome("dashboard_refund:nothing_left")
            return
        try:
            self.world.stripe.v1.refunds.create(params={"payment_intent": intent["id"], "amount": amount})
        except stripe.StripeError as exc:  # Stripe refuses a refund of a disputed charge, as it should
            STATS.outcome(f"dashboard_refund:refused:{exc.code}")
            return
        STATS.outcome("dashboard_refund:ok")

    @rule(pick=PICK)
    def bank_fails_refund(self, pick: int) -> None:
        """A refund that succeeded fails at the bank later."""
        self._step("bank_fails_refund")
        page = self.world.stripe.v1.refunds.list(params={"limit": 100})
        live = [r.id for r in page.auto_paging_iter() if r.status == "succeeded"]
        if not live:
            STATS.outcome("bank_fail:none")
            return
        self.world.emulator.fail_refund(_pick(live, pick))
        STATS.outcome("bank_fail:ok")

    @rule(pick=PICK, share=st.sampled_from(["all", "part"]))
    def cardholder_disputes(self, pick: int, share: str) -> None:
        """The cardholder charges back a payment (whole or in part); Stripe withdraws the money."""
        self._step("cardholder_disputes")
        intents = self._intents()
        if not intents:
            STATS.outcome("dispute:none")
            return
        intent = _pick(intents, pick)
        amount = None if share == "all" else min(int(intent["amount"]), 1000)
        try:
            self.world.emulator.open_dispute(intent["id"], amount)
            STATS.outcome("dispute:opened")
        except Exception as exc:  # the emulator refuses a second dispute on a charge, as Stripe does
            STATS.outcome(f"dispute:refused:{type(exc).__name__}")

    @rule(pick=PICK, won=st.booleans())
    def dispute_closes(self, pick: int, won: bool) -> None:
        """The network closes an open dispute, won (money reinstated) or lost."""
        self._step("dispute_closes")
        page = self.world.stripe.v1.disputes.list(params={"limit": 100})
        open_ones = [d.id for d in page.auto_paging_iter() if d.status not in ("won", "lost")]
        if not open_ones:
            STATS.outcome("dispute_close:none")
            return
        self.world.emulator.close_dispute(_pick(open_ones, pick), "won" if won else "lost")
        STATS.outcome(f"dispute_close:{'won' if won else 'lost'}")

    # -- the network ------------------------------------------------------------------------------

    @precondition(lambda self: not self.world.holding)
    @rule(steps=st.integers(1, 4), reverse=st.booleans())
    def network_holds_events(self, steps: int = 3, reverse: bool = True) -> None:
        """Stripe's deliveries wait for the next ``steps`` steps, then arrive (``reverse``: newest first),
        unless a release comes sooner. An example that ends while holding would never compare with Stripe."""
        self._step("network_holds_events")
        self.world.emulator.hold_events()
        self.world.holding = True
        self.release_after = (steps, reverse)

    @precondition(lambda self: self.world.holding)
    @rule(reverse=st.booleans())
    def network_releases_events(self, reverse: bool) -> None:
        self._step("network_releases_events")
        self._release(reverse)

    def _release(self, reverse: bool) -> None:
        released = self.world.emulator.release_events(reverse=reverse)
        STATS.outcome(f"released:{'reversed' if reverse else 'in_order'}:{'some' if released else 'none'}")
        self.world.holding = False
        self.release_after = None

    @rule(n=st.integers(1, 4))
    def network_duplicates_events(self, n: int) -> None:
        self._step("network_duplicates_events")
        self.world.emulator.duplicate_next_delivery(n)

    @rule(n=st.integers(1, 3))
    def network_loses_events(self, n: int) -> None:
        """The next ``n`` events never get through: Stripe retries, then gives up."""
        self._step("network_loses_events")
        self.world.receiver.drop_next += n
        self.lost = True

    # -- time and the sweep -------------------------------------------------------------------------

    @rule(minutes=st.sampled_from([1, 11, 31, 61, 25 * 60]), then_sweep=st.booleans())
    def time_passes(self, minutes: int, then_sweep: bool) -> None:
        """Both clocks move past holds, session expiries, async results and late bank failures."""
        self._step("time_passes")
        self.world.advance(minutes * 60)
        if then_sweep:
            self._sweep()

    @rule(settle_first=st.booleans())
    def sweep_runs(self, settle_first: bool) -> None:
        """The scheduled sweep, after the deliveries in flight or while they still wait. (An argument-less rule is
        the one Hypothesis draws most, as its simplest choice: this one ran a third of all steps.)"""
        self._step("sweep_runs")
        self._sweep(settle_first)

    def _sweep(self, settle_first: bool = True) -> None:
        if settle_first:
            self.world.settle()
        self.world.receiver.drop_next = 0
        report = self.world.sweep()
        if report is not None and not self.world.holding:
            self.world.settle()
            self.world.receiver.dropping.clear()
            self.lost = False
        STATS.outcome(f"sweep:{report is not None}")

    # -- the books -------------------------------------------------------------------------------------

    @invariant()
    def books_balance(self) -> None:
        """Once what can arrive has arrived, the audit finds nothing."""
        self.world.settle()
        with_stripe = not self.world.holding and not self.lost
        breaks = []
        for found in oracle.audit(CID, with_stripe=with_stripe):
            if found.invariant in KNOWN:
                STATS.outcome(f"known:{found.invariant}")
            else:
                breaks.append(found)
        for found in breaks:
            STATS.outcome(f"break:{found.invariant}")
        assert not breaks, "the books do not balance:\n" + "\n".join(
            f"[{b.invariant}] {b.kind} {b.record}: ours={b.ours} stripe={b.stripe} {b.detail}" for b in breaks
        )
