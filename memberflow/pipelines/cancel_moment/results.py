"""What the cancel page did, per product, reason and alternative: pages opened, alternatives
shown, accepted and kept, revenue kept, cancellations completed, the median time to cancel; and
the one causal number, members who saw the alternative against the experiment's holdout who
did not. Plain Python over the visits as read (report.py reads them).

Kept, as Chargebee defines it: accepted, and no cancellation within 30 days of accepting; a
pause counts only once the member pays after it ends. Until 30 days have passed (or the pause
has ended) an acceptance is "too early to tell", never counted kept.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from memberflow.core.money import to_decimal

KEPT_AFTER = timedelta(days=30)
MONTH = timedelta(days=30)


@dataclass(frozen=True)
class Visit:
    product: str
    reason: str | None
    offered: str | None  # the alternative configured for the reason (shown, or withheld)
    withheld: bool  # the experiment's holdout: not shown
    decision: str | None
    opened_at: datetime
    decided_at: datetime | None
    canceled_at: datetime | None  # the subscription's cancellation, if any
    paid_after: datetime | None  # the first payment after the decision, if any
    pause_months: int
    monthly_minor: int  # the subscription's amount, per month
    currency: str


def kept(visit: Visit, now: datetime) -> bool | None:
    """Whether an accepted alternative kept the member (None: too early to tell)."""
    if visit.decided_at is None or visit.decision in (None, "cancel"):
        return False
    canceled = visit.canceled_at
    if canceled is not None and canceled <= visit.decided_at + KEPT_AFTER:
        return False
    if visit.decision == "pause":
        ends = visit.decided_at + visit.pause_months * MONTH
        if visit.paid_after is not None and visit.paid_after >= ends:
            return True
        return None if now < ends + KEPT_AFTER else False
    return True if now >= visit.decided_at + KEPT_AFTER else None


def table(visits: list[Visit], now: datetime) -> list[dict]:
    """One row per product, reason and alternative shown."""
    groups: dict[tuple, list[Visit]] = defaultdict(list)
    for visit in visits:
        groups[(visit.product, visit.reason or "(none given)", visit.offered or "-")].append(visit)
    rows = []
    for (product, reason, offered), found in sorted(groups.items()):
        accepted = [v for v in found if v.decision not in (None, "cancel")]
        verdicts = [kept(v, now) for v in accepted]
        canceled = [v for v in found if v.decision == "cancel"]
        seconds = [(v.decided_at - v.opened_at).total_seconds() for v in canceled if v.decided_at]
        kept_visits = [v for v, said in zip(accepted, verdicts, strict=True) if said]
        rows.append(
            {
                "product": product,
                "reason": reason,
                "alternative": offered,
                "opened": len(found),
                "shown": sum(1 for v in found if v.offered and not v.withheld),
                "withheld": sum(1 for v in found if v.offered and v.withheld),
                "accepted": len(accepted),
                "kept": len(kept_visits),
                "too early": sum(1 for said in verdicts if said is None),
                "revenue kept (monthly)": _money(kept_visits),
                "canceled": len(canceled),
                "median seconds to cancel": round(median(seconds)) if seconds else "-",
            }
        )
    return rows


def holdout(visits: list[Visit], now: datetime) -> list[dict]:
    """Members an alternative was configured for: those shown it against those the experiment
    withheld it from, by whether they were still members 30 days after the page (only visits at
    least 30 days old count). The difference is what the alternative itself did."""
    rows = []
    for label, group in (
        ("shown the alternative", [v for v in visits if v.offered and not v.withheld]),
        ("holdout (not shown)", [v for v in visits if v.offered and v.withheld]),
    ):
        judged = [v for v in group if now >= v.opened_at + KEPT_AFTER]
        stayed = [
            v for v in judged if v.canceled_at is None or v.canceled_at > v.opened_at + KEPT_AFTER
        ]
        rate = f"{len(stayed) / len(judged):.0%}" if judged else "-"
        rows.append(
            {"group": label, "judged": len(judged), "still members": len(stayed), "rate": rate}
        )
    return rows


def _money(visits: list[Visit]) -> str:
    totals: dict[str, int] = defaultdict(int)
    for visit in visits:
        totals[visit.currency] += visit.monthly_minor
    said = [f"{to_decimal(amount, code)} {code}" for code, amount in sorted(totals.items())]
    return ", ".join(said) or "0"
