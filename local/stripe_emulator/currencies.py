"""Currencies the emulator accepts, their minor units, and how amounts are shown.

Stripe counts money in the currency's minor unit. Zero-decimal currencies (JPY...) count whole
units and three-decimal currencies (BHD...) count thousandths, which Stripe only charges in
multiples of ten.
"""

from __future__ import annotations


def _codes(text: str) -> frozenset[str]:
    """A set of currency codes from a whitespace-separated block."""
    return frozenset(text.split())


ZERO_DECIMAL: frozenset[str] = _codes("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf")
THREE_DECIMAL: frozenset[str] = _codes("bhd jod kwd omr tnd")

# Stripe's presentment currencies (lower case ISO 4217).
SUPPORTED: frozenset[str] = _codes(
    """
    usd aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd bwp byn
    bzd cad cdf chf clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gnf
    gtq gyd hkd hnl htg huf idr ils inr isk jmd jod jpy kes kgs khr kmf krw kwd kyd kzt lak lbp lkr
    lrd lsl mad mdl mga mkd mmk mnt mop mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd omr pab pen
    pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr sek sgd shp sle sos srd std szl thb tjs top
    try ttd twd tzs uah ugx uyu uzs vnd vuv wst xaf xcd xof xpf yer zar zmw tnd
    """
)

# Stripe's minimum charge amounts, in minor units, for the settlement currencies that have one.
MINIMUM_CHARGE: dict[str, int] = {
    "usd": 50,
    "aed": 200,
    "aud": 50,
    "bgn": 100,
    "brl": 50,
    "cad": 50,
    "chf": 50,
    "czk": 1500,
    "dkk": 250,
    "eur": 50,
    "gbp": 30,
    "hkd": 400,
    "huf": 17500,
    "inr": 50,
    "jpy": 50,
    "mxn": 1000,
    "myr": 200,
    "nok": 300,
    "nzd": 50,
    "pln": 200,
    "ron": 200,
    "sek": 300,
    "sgd": 50,
    "thb": 1000,
}

_SYMBOLS: dict[str, str] = {
    "usd": "$",
    "eur": "€",
    "gbp": "£",
    "jpy": "¥",
    "inr": "₹",
    "krw": "₩",
    "cny": "¥",
    "aud": "A$",
    "cad": "CA$",
    "nzd": "NZ$",
    "hkd": "HK$",
    "sgd": "S$",
    "chf": "CHF ",
    "brl": "R$",
    "mxn": "MX$",
}


def decimals(currency: str) -> int:
    """Number of minor-unit digits Stripe uses for `currency`."""
    currency = currency.lower()
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def format_amount(amount: int, currency: str) -> str:
    """Render minor units for people: `1050 usd` → `$10.50`, `1000 jpy` → `¥1,000`."""
    digits = decimals(currency)
    sign = "-" if amount < 0 else ""
    whole, minor = divmod(abs(amount), 10**digits) if digits else (abs(amount), 0)
    number = f"{whole:,}" + (f".{minor:0{digits}d}" if digits else "")
    symbol = _SYMBOLS.get(currency.lower())
    if symbol is None:
        return f"{sign}{number} {currency.upper()}"
    return f"{sign}{symbol}{number}"


def minimum_charge(currency: str) -> int:
    """Smallest amount Stripe will charge in `currency` (1 where Stripe publishes no minimum)."""
    return MINIMUM_CHARGE.get(currency.lower(), 1)
