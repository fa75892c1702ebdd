"""Who may be written to, and how often: consent and the contact cap, for every pipeline.

Every step is `transactional` (a confirmation, a billing reminder, a dunning notice: the member
needs it), `feedback` (the exit survey that is part of a cancellation: no consent needed, but
never after an unsubscribe) or `marketing` (a win-back, a satisfaction survey: the member may
refuse it). Marketing goes only to members who agreed and never after an unsubscribe; an erased
member gets nothing at all. Feedback and marketing carry an unsubscribe link. The cap holds
marketing back when the member has heard from the business too often lately; the others are
never held, but they count.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    transactional = "transactional"
    feedback = "feedback"
    marketing = "marketing"

    @property
    def unsubscribable(self) -> bool:
        return self is not Kind.transactional


def kind_of(step: Any) -> Kind:
    """A step's kind; steps that do not say are transactional (reminders, dunning)."""
    return Kind(getattr(step, "kind", Kind.transactional))


def consent_reason(kind: Kind, row: Any) -> str | None:
    """None when the member may get a message of this kind, else why not (recorded as skipped)."""
    if getattr(row, "erased_at", None) is not None:
        return "the member asked to be erased"
    if kind.unsubscribable and getattr(row, "unsubscribed_at", None) is not None:
        return "the member unsubscribed from marketing messages"
    if kind is Kind.marketing and not getattr(row, "marketing_consent", False):
        return "the member has not agreed to marketing messages"
    return None


@dataclass(frozen=True)
class CapRule:
    most: int
    within: timedelta


@dataclass(frozen=True)
class ContactCap:
    """At most `most` messages per member `within` a rolling window, for each rule."""

    rules: tuple[CapRule, ...]

    @classmethod
    def parse(cls, text: str) -> "ContactCap":
        """`"1/3d,2/7d"`: one per 3 days and two per 7. An empty text is no cap."""
        rules = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            match = re.fullmatch(r"(\d+)\s*/\s*(\d+)\s*d", part)
            if not match:
                raise ValueError(
                    f"contact cap {part!r} is not N/<days>d (e.g. MEMBERFLOW_CONTACT_CAP=1/3d,2/7d)"
                )
            if int(match[1]) < 1 or int(match[2]) < 1:
                raise ValueError(f"contact cap {part!r}: both numbers must be at least 1")
            rules.append(CapRule(int(match[1]), timedelta(days=int(match[2]))))
        return cls(tuple(rules))

    @property
    def longest(self) -> timedelta:
        return max((rule.within for rule in self.rules), default=timedelta(0))

    def next_allowed(self, recent: list[datetime], now: datetime) -> datetime | None:
        """None when one more message may go now, given the times of the member's recent
        messages; else the first moment one may."""
        waits = []
        for rule in self.rules:
            inside = sorted(t for t in recent if t > now - rule.within)
            if len(inside) >= rule.most:
                # allowed again once enough of them have left the window
                waits.append(inside[len(inside) - rule.most] + rule.within)
        return max(waits) if waits else None
