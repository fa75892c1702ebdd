"""What a sync lists and what it says it did: each provider's objects as the events that would
have told memberflow of them, and the summary per kind (new, changed, unchanged, skipped)."""

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from memberflow.ingress.changes import Change, Received

KEPT_DETAILS = 100  # objects skipped or noted a checkpoint names by id; the rest are counted


@dataclass(frozen=True)
class Listed:
    """One object from the provider's API, as the event that would have told us of it."""

    kind: str  # "customer", "subscription", "card": the summary's rows
    object_id: str
    event: dict | bytes  # as the provider's webhook: its JSON object, or its body (a form)
    # once this is written, a cut sync may resume with the list `phase` after the object
    # `after` (the last object of a group: a subscription's failed invoice, not the subscription)
    checkpoint: tuple[str, str] | None = None


@dataclass
class Summary:
    """What a sync did, per kind: new, changed, unchanged, and skipped with the reason."""

    counts: dict[str, Counter] = field(default_factory=dict)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, id, why)
    noted: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, id, what)

    def count(self, kind: str, outcome: str) -> None:
        self.counts.setdefault(kind, Counter())[outcome] += 1

    def skip(self, kind: str, object_id: str, why: str) -> None:
        self.count(kind, "skipped")
        self.skipped.append((kind, object_id, why))

    def note(self, kind: str, object_id: str, what: str) -> None:
        """Applied, but ops should know (several items on one subscription, no card)."""
        self.noted.append((kind, object_id, what))

    @property
    def total(self) -> int:
        return sum(sum(counts.values()) for counts in self.counts.values())

    def sentence(self) -> str:
        return ", ".join(f"{kind}s {sum(c.values()):,}" for kind, c in self.counts.items())

    def differences(self) -> dict[str, int]:
        """Per kind, the objects found new or changed: what memberflow did not know."""
        found = {kind: c["new"] + c["changed"] for kind, c in self.counts.items()}
        return {kind: n for kind, n in found.items() if n}

    def to_json(self) -> str:
        """The counts, and the first of the objects skipped or noted (a checkpoint keeps it)."""
        return json.dumps(
            {
                "counts": self.counts,
                "skipped": self.skipped[:KEPT_DETAILS],
                "noted": self.noted[:KEPT_DETAILS],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> "Summary":
        saved = json.loads(text or "{}")
        return cls(
            counts={kind: Counter(c) for kind, c in saved.get("counts", {}).items()},
            skipped=[tuple(s) for s in saved.get("skipped", [])],
            noted=[tuple(n) for n in saved.get("noted", [])],
        )

    def rows(self) -> list[dict]:
        outcomes = ("new", "changed", "unchanged", "skipped")
        return [
            {"kind": kind, **{o: counts.get(o, 0) for o in outcomes}}
            for kind, counts in self.counts.items()
        ]


Translate = Callable[[Received], Change]
