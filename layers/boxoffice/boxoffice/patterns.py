"""The shapes of identifiers the API takes, as regular expressions.

Here rather than beside the models that use them, so code that only checks an identifier (the
webhook route, which loads no pydantic) or only needs the pattern (orders, bulk purchases) does
not import the conference service and its models.
"""

CONFERENCE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"
ENTRY_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
SPONSOR_SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,13}$"
"""At most 14 characters, so the default voucher prefix ``BULK-{SLUG}-`` fits its 20."""
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]{1,185}\.[^@\s]{2,63}$"
