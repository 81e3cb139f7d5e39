"""Boxoffice: conference voucher sales, orders, refunds and store credit.

The package is the shared Lambda layer. Services (one module per capability) hold the
rules; ``store`` owns every DynamoDB access pattern; ``api`` holds the HTTP conventions
that every function's resolver shares.
"""
