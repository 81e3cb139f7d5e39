"""Store credit. Applying credit to orders and issuing it from refunds arrive with the refunds
issue; what exists now is the hook that cancelling an order calls to give credit back.
"""

from boxoffice.observability import logger
from boxoffice.store import orders as order_records


def return_credit_payments(order: order_records.Order) -> int:
    """Give every succeeded ``credit`` payment of a cancelled order back to its credit.

    No credit can be applied yet, so there is nothing to return; an order that somehow has one is
    flagged for staff rather than silently keeping the money.
    """
    credit_payments = [
        p
        for p in order_records.payments_of(order.conference_id, order.order_id)
        if p.method == "credit" and p.status == "succeeded"
    ]
    if credit_payments:
        logger.error("cancelled order has credit payments to return", extra={"order_id": order.order_id})
        order.update(
            actions=[order_records.Order.attention.set("credit payments must be returned to their credits")],
            add_version_condition=False,
        )
    return 0
