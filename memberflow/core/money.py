"""Money as integer minor units plus an ISO 4217 code, formatted per locale with Babel."""

from datetime import date
from decimal import Decimal
from functools import lru_cache

from babel.dates import format_date as babel_format_date
from babel.numbers import format_currency, get_currency_precision


def to_decimal(amount_minor: int, currency: str) -> Decimal:
    return Decimal(amount_minor).scaleb(-get_currency_precision(currency))


def to_minor(amount: str, currency: str) -> int:
    """ "12.50" in EUR is 1250. Raises ValueError for text that is not an amount or has more
    decimals than the currency allows."""
    try:
        value = Decimal(amount.strip()).scaleb(get_currency_precision(currency))
    except ArithmeticError:
        raise ValueError(f"{amount!r} is not an amount") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise ValueError(f"{amount!r} is not an amount in {currency}")
    return int(value)


# Babel resolves the locale's patterns on every call; members share a few amounts and dates,
# so each (value, locale) is formatted once per process.
@lru_cache(maxsize=8192)
def format_money(amount_minor: int, currency: str, locale: str) -> str:
    """`format_money(1999, "EUR", "fr")` gives `19,99 €` (with a narrow no-break space)."""
    return format_currency(to_decimal(amount_minor, currency), currency.upper(), locale=locale)


@lru_cache(maxsize=8192)
def format_date(day: date, locale: str) -> str:
    """A long date in the member's language: `December 1, 2026` or `1 décembre 2026`."""
    return babel_format_date(day, format="long", locale=locale)
