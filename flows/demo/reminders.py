from datetime import datetime

from flows.reminders import reminders


def day(as_of: datetime) -> dict:
    """One simulated day: the day's reminder run, its totals."""
    total = reminders(as_of=as_of)[-1]
    return {outcome: count for outcome, count in total.items() if outcome != "step"}
