"""The one honest alternative a cancel page may show, and when it shows none.

At most one, and only when the owner configured one for the reason the member gave: a pause
(not using it now), a cheaper plan or a discount (price), a person (something broke). Never two,
never without a reason, never where the owner turned it off (for a product, or a country where
the member is known to live). Plain Python: the page asks `alternative_for`.

Configured as JSON in `MEMBERFLOW_CANCEL_ALTERNATIVES`, by product external id (`*`: every
product without its own):

    {"gold": {"unused": {"kind": "pause", "months": 2},
              "too_expensive": {"kind": "switch", "price": "price_basic",
                                "description": "Basic, $9 a month"},
              "technical_issues": {"kind": "human"}},
     "*": {"off_countries": ["DE"]}}
"""

import json
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from memberflow.core.feedback import REASONS, STRIPE_FEEDBACK

KINDS = ("pause", "switch", "discount", "human")
# the reasons each kind answers: an alternative that does not answer the reason is not honest
ANSWERS = {
    "pause": {"unused", "other"},
    "switch": {"too_expensive", "too_complex", "missing_features"},
    "discount": {"too_expensive"},
    "human": {"technical_issues", "customer_service", "missing_features", "other"},
}


class Alternative(BaseModel):
    """One alternative. Its words are the page's, in the member's language; `description`
    names what a switch or a discount gives, as the owner writes it."""

    kind: Literal["pause", "switch", "discount", "human"]
    months: int = Field(1, ge=1, le=3, description="A pause: how long, 1 to 3 months.")
    price: str | None = Field(None, description="A switch: the provider's price (or plan) id.")
    code: str | None = Field(None, description="A discount: the coupon or promotion code.")
    description: str | None = Field(None, description="A switch's or discount's 'what'.")
    descriptions: dict[str, str] = Field(
        default_factory=dict, description="The same in other languages: {'fr': '...'}."
    )

    @model_validator(mode="after")
    def _complete(self) -> "Alternative":
        if self.kind == "switch" and not (self.price and self.description):
            raise ValueError("a switch needs `price` (the provider's id) and `description`")
        if self.kind == "discount" and not (self.code and self.description):
            raise ValueError("a discount needs `code` and `description`")
        return self

    def described(self, lang: str) -> str:
        return self.descriptions.get(lang) or self.description or ""


class ProductAlternatives(BaseModel):
    """A product's alternatives by exit reason, or none at all (`off`)."""

    by_reason: dict[str, Alternative] = Field(default_factory=dict)
    off: bool = False
    off_countries: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _reasons_at_the_top(cls, data):
        """`{"unused": {...}, "off_countries": [...]}`: reasons sit beside the switches."""
        if not isinstance(data, dict):
            return data
        switches = {k: data[k] for k in ("off", "off_countries", "by_reason") if k in data}
        reasons = {k: v for k, v in data.items() if k not in switches}
        return {**switches, "by_reason": {**switches.get("by_reason", {}), **reasons}}

    @model_validator(mode="after")
    def _honest(self) -> "ProductAlternatives":
        for reason, alternative in self.by_reason.items():
            if reason not in REASONS:
                raise ValueError(f"{reason!r} is not an exit reason ({', '.join(REASONS)})")
            if reason not in ANSWERS[alternative.kind]:
                raise ValueError(
                    f"a {alternative.kind} does not answer {reason!r}: offer it for "
                    f"{', '.join(sorted(ANSWERS[alternative.kind]))}"
                )
        self.off_countries = [country.upper() for country in self.off_countries]
        return self


Alternatives = dict[str, ProductAlternatives]


def load_alternatives(text: str) -> Alternatives:
    """The owner's configuration, or a ValueError that says where it is wrong."""
    if not text.strip():
        return {}
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"MEMBERFLOW_CANCEL_ALTERNATIVES is not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise ValueError("MEMBERFLOW_CANCEL_ALTERNATIVES must map product ids to alternatives")
    found = {}
    for product, config in raw.items():
        try:
            found[product] = ProductAlternatives.model_validate(config)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'it'}: {e['msg']}" for e in error.errors()
            )
            raise ValueError(
                f"MEMBERFLOW_CANCEL_ALTERNATIVES, product {product!r}: {problems}"
            ) from None
    return found


def alternative_for(
    alternatives: Alternatives, product: str | None, reason: str | None, country: str | None
) -> Alternative | None:
    """The one alternative to show, or None: no reason given, none configured for it, or the
    owner turned them off for the product or the member's country."""
    if not reason:
        return None
    config = alternatives.get(product or "") or alternatives.get("*")
    if config is None or config.off:
        return None
    if country and country.upper() in config.off_countries:
        return None
    return config.by_reason.get(reason)


# Stripe's `cancellation_details.feedback` for each exit reason (the inverse of the ingress's)
FEEDBACK_FOR_STRIPE = {ours: theirs for theirs, ours in STRIPE_FEEDBACK.items()}
