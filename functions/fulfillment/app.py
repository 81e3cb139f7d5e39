"""fulfillment function (placeholder until built)."""


def handler(event: dict, context: object) -> dict:
    return {}
