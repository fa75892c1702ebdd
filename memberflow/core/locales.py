"""Which language a member's message is written in, and the product's words in that language.

The fallback chain (docs/templates.md): the member's locale (`fr-CA`), its language (`fr`), the
product's default locale, the business's default locale; the first one the template is written
in wins. A regional variant answered by its language is not a fallback: the member still reads
their language. Anything further is, and the run warns about it.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

T = TypeVar("T")

SUPPORTED = ("en", "fr", "es", "de")  # the languages memberflow's own templates are written in


@lru_cache(maxsize=1024)  # asked a few times per message, of a few dozen tags
def normalized(tag: str | None) -> str | None:
    """`fr_ca`, `FR-ca` -> `fr-CA`; None or empty -> None."""
    if not tag or not tag.strip():
        return None
    language, _, region = tag.strip().replace("_", "-").partition("-")
    return f"{language.lower()}-{region.upper()}" if region else language.lower()


@lru_cache(maxsize=1024)
def language_of(tag: str | None) -> str | None:
    """`fr-CA` -> `fr`."""
    tag = normalized(tag)
    return tag.split("-")[0] if tag else None


def fallback_chain(member: str | None, product: str | None, business: str) -> list[str]:
    """The locales to try, in order, without repeats."""
    chain: list[str] = []
    for tag in (member, language_of(member), product, language_of(product), business):
        tag = normalized(tag)
        if tag and tag not in chain:
            chain.append(tag)
    return chain


@dataclass(frozen=True)
class Choice:
    locale: str  # the language the message is written in
    asked: str | None  # the member's own locale

    @property
    def fell_back(self) -> bool:
        """The member does not get their own language (a regional variant's language counts)."""
        return self.asked is not None and language_of(self.asked) != language_of(self.locale)


def choose(
    available: Collection[str], member: str | None, product: str | None, business: str
) -> Choice:
    """The first locale of the chain the template is written in (the business's default when
    none is: a template missing in it fails at rendering, naming the file)."""
    chain = fallback_chain(member, product, business)
    found = next((tag for tag in chain if tag in available), chain[-1])
    return Choice(found, normalized(member))


def in_language(texts: Mapping[str, T], locale: str, asked: str | None = None) -> T | None:
    """The text written for the member's own locale (when the message is in its language), the
    message's locale or its language; None when there is none."""
    own = [normalized(asked)] if language_of(asked) == language_of(locale) else []
    for tag in (*own, normalized(locale), language_of(locale)):
        if tag and texts.get(tag):
            return texts[tag]
    return None


def offer_description(offer: Mapping[str, Any], locale: str) -> str:
    """An offer's words in the message's language (`descriptions`), else as written: an offer
    shown in the business's language beats an offer left out."""
    return in_language(offer.get("descriptions") or {}, locale) or offer["description"]


def product_words(
    locale: str,
    *,
    asked: str | None = None,
    name: str,
    value_amplifier: str | None,
    written_in: str,
    translations: dict[str, Any] | None,
) -> tuple[str, str | None]:
    """The product's name and value amplifier for a message in `locale`.

    The product's own columns are written in `written_in` (its default locale). A translation for
    the member's own locale (`asked`, when the message is in its language), the message's locale
    or its language replaces them; with none, the name stays (a name reads in any language) and
    the amplifier is left out rather than shown in another language.
    """
    words = in_language(translations or {}, locale, asked)
    if words:
        return words.get("name") or name, words.get("value_amplifier") or None
    if language_of(locale) == language_of(written_in):
        return name, value_amplifier
    return name, None
