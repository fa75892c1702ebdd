"""What a run tells of itself: per step, how many touchpoints came to each outcome, and besides
the steps (under keys that are never step names) why messages failed, why the output itself was
failing, who got another language than theirs and how often the receiver asked us to slow down."""

from collections import Counter

Tally = dict[str, Counter]  # step name -> counts per outcome
NOTE = "!"  # a tally key starting with it is a note, not a step
FAILURE_REASONS = NOTE + "failures"  # one count per reason
DEAD_LETTERS = NOTE + "dead letters"  # "key: why" of each message that went dead
OUTPUT_FAILING = NOTE + "output failing"  # when delivery stopped sending to the output
LANGUAGE_FALLBACKS = NOTE + "language fallbacks"  # members who got another language
THROTTLED = NOTE + "throttled"  # outputs that asked us to slow down (HTTP 429), how often


def note(tally: Tally, kind: str) -> Counter:
    """The tally's counter for one kind of note (FAILURE_REASONS...), made on first use."""
    return tally.setdefault(kind, Counter())


def steps_of(tally: Tally) -> Tally:
    """The tally's steps only, without its notes on failures."""
    return {name: counts for name, counts in tally.items() if not name.startswith(NOTE)}


def add_tally(total: Tally, more: Tally) -> Tally:
    for step, counts in more.items():
        total[step] = Counter(total.get(step, ())) + Counter(counts)
    return total
