"""Test helpers, each defined once, in the module of what it helps with (imported as modules).

Pytest fixtures live in conftest.py files: ``tests/conftest.py`` holds what the in-process lanes share
(``moto_server``, ``stripe_emulator``, ``emulator``, ``api``, ``demo``, ``slow_bank``); each lane's
conftest adds its engines and its ``aws``.

- ``http``: roles' claims, the demo conference, return URLs, calling a handler as API Gateway would,
  the API's error shape, pagination cursors.
- ``functions``: each function's real handler, sample events, a fresh container's caches.
- ``stripe``: Stripe's event shape, signed webhook deliveries, an SDK client on the emulator and what
  it holds (``from tests.support import stripe as stripe_support`` where the SDK is imported too).
- ``pipeline``: the Stripe event path in process (admit, process, rerun, sync).
- ``bus``: what reaches the app's EventBridge bus. ``table``: the table by scans. ``clock``: now.
- ``order_fixtures``, ``bulk_fixtures``, ``refund_fixtures``: orders, bulk purchases, refunds and
  store credit through the real handlers. ``capacity``: catalog limits and counters.
  ``conferences``: tenants besides the demo.
- ``books``: the audit as an oracle. ``containers``: racing function containers on DynamoDB Local.
- ``gateway``: a request through the local gateway in process (real tokens, checked).
- ``e2e``, ``story``, ``browser``: the lanes that drive the running local stack.
- ``requirements``: reading the layer's lock and the dev requirements.
- ``properties``: Hypothesis settings for property tests of pure rules (``tests/unit/rules``).
"""
