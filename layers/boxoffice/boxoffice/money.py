"""Money in integer minor units, the way Stripe counts it.

A float never touches money. These tables are Stripe's: which currencies it charges, and
how many decimals each one has.
"""

ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
"""Currencies whose amounts are whole units."""

THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])
"""Currencies with three decimals. Stripe requires their amounts to end in 0."""

SUPPORTED = frozenset(
    [
        "usd",
        "aed",
        "afn",
        "all",
        "amd",
        "ang",
        "aoa",
        "ars",
        "aud",
        "awg",
        "azn",
        "bam",
        "bbd",
        "bdt",
        "bgn",
        "bhd",
        "bif",
        "bmd",
        "bnd",
        "bob",
        "brl",
        "bsd",
        "bwp",
        "byn",
        "bzd",
        "cad",
        "cdf",
        "chf",
        "clp",
        "cny",
        "cop",
        "crc",
        "cve",
        "czk",
        "djf",
        "dkk",
        "dop",
        "dzd",
        "egp",
        "etb",
        "eur",
        "fjd",
        "fkp",
        "gbp",
        "gel",
        "gip",
        "gmd",
        "gnf",
        "gtq",
        "gyd",
        "hkd",
        "hnl",
        "htg",
        "huf",
        "idr",
        "ils",
        "inr",
        "isk",
        "jmd",
        "jod",
        "jpy",
        "kes",
        "kgs",
        "khr",
        "kmf",
        "krw",
        "kwd",
        "kyd",
        "kzt",
        "lak",
        "lbp",
        "lkr",
        "lrd",
        "lsl",
        "mad",
        "mdl",
        "mga",
        "mkd",
        "mmk",
        "mnt",
        "mop",
        "mur",
        "mvr",
        "mwk",
        "mxn",
        "myr",
        "mzn",
        "nad",
        "ngn",
        "nio",
        "nok",
        "npr",
        "nzd",
        "omr",
        "pab",
        "pen",
        "pgk",
        "php",
        "pkr",
        "pln",
        "pyg",
        "qar",
        "ron",
        "rsd",
        "rub",
        "rwf",
        "sar",
        "sbd",
        "scr",
        "sek",
        "sgd",
        "shp",
        "sle",
        "sos",
        "srd",
        "std",
        "szl",
        "thb",
        "tjs",
        "tnd",
        "top",
        "try",
        "ttd",
        "twd",
        "tzs",
        "uah",
        "ugx",
        "uyu",
        "uzs",
        "vnd",
        "vuv",
        "wst",
        "xaf",
        "xcd",
        "xof",
        "xpf",
        "yer",
        "zar",
        "zmw",
    ]
)
"""ISO 4217 codes (lower case) that Stripe can charge."""

MAX_AMOUNT = 99_999_999
"""Stripe's largest amount for one charge, in minor units (eight digits)."""


def is_supported(currency: str) -> bool:
    """True when Stripe can charge in ``currency`` (ISO 4217, lower case)."""
    return currency in SUPPORTED


def decimals(currency: str) -> int:
    """How many minor-unit digits ``currency`` has."""
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def grid(currency: str) -> int:
    """The step every amount sent to Stripe must be a multiple of: 10 for three-decimal currencies."""
    return 10 if currency in THREE_DECIMAL else 1


def on_grid(amount: int, currency: str) -> bool:
    """True when Stripe accepts ``amount`` for ``currency`` (three-decimal amounts end in 0)."""
    return amount % grid(currency) == 0


def require_on_grid(amount: int, currency: str, loc: list[str | int]) -> None:
    """Refuse (422) an amount Stripe would refuse for the currency, naming the field."""
    if not on_grid(amount, currency):
        from boxoffice.errors import ValidationFailed

        message = f"{currency.upper()} amounts must be multiples of {grid(currency)} minor units"
        raise ValidationFailed(message, details=[{"loc": loc, "msg": message, "type": "value_error"}])


def format_amount(amount: int, currency: str) -> str:
    """Human form such as ``12.50 USD`` or ``1500 JPY``; for messages, never for arithmetic."""
    places = decimals(currency)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**places) if places else (abs(amount), 0)
    body = f"{whole}.{frac:0{places}d}" if places else f"{whole}"
    return f"{sign}{body} {currency.upper()}"
