"""Telling an output that is failing from messages that are bad (docs/reliability.md).

A message the output refuses is held, its outcome undecided, until the output answers another:
a success says the output works, so the held messages were bad and each spends its attempt;
`trip_after` different messages refused in a row, with no success between them, say the output
itself is failing, so none of them does, and the run stops sending to it. One message's
repeats never trip it: a message is tried once per run.
"""

from dataclasses import dataclass, field
from typing import Generic, TypeVar

Held = TypeVar("Held")  # a refused message with its provisional outcome


@dataclass
class Breaker(Generic[Held]):
    trip_after: int
    tripped: bool = False
    _held: list[tuple[Held, bool]] = field(default_factory=list)  # (message, the output said down)

    def refused(self, message: Held, *, down: bool) -> list[Held]:
        """The output refused `message` (`down`: it said it cannot work at all). Returns the
        messages to spare (the output is failing: they spend no attempt): none while the
        verdict waits, all held ones when this trips it, this one once it has tripped."""
        if self.tripped:
            return [message]
        self._held.append((message, down))
        return self._trip() if len(self._held) >= self.trip_after else []

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def succeeded(self) -> list[Held]:
        """The output accepted a message: the held ones were bad, and spend their attempt."""
        held, self._held = [message for message, _ in self._held], []
        return held

    def finish(self) -> tuple[list[Held], list[Held]]:
        """At the end, (to spare, to charge) of those still held: spared when the output said
        of each that it cannot work (no connection, credentials refused), else charged."""
        if self._held and all(down for _, down in self._held):
            return self._trip(), []
        return [], self.succeeded()

    def _trip(self) -> list[Held]:
        self.tripped = True
        return self.succeeded()
