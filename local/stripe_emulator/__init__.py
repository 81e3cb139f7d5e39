"""A stateful Stripe API emulator for local runs and tests (a dev tool, never deployed).

    from local.stripe_emulator import StripeEmulator

    emu = StripeEmulator(port=0).start()
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": emu.url})
    ...
    emu.stop()

See README.md in this folder.
"""

from .checkout import OUTCOMES, PaymentRefused
from .emulator import StripeEmulator
from .errors import StripeError
from .objects import API_VERSION
from .refunds import is_magic_failure
from .webhooks import sign

__all__ = [
    "API_VERSION",
    "OUTCOMES",
    "PaymentRefused",
    "StripeEmulator",
    "StripeError",
    "is_magic_failure",
    "sign",
]
