"""Survey results, the pure part: response rates, reasons by product and by tenure, NPS."""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

TENURE_BANDS = ((90, "under 3 months"), (365, "3 to 12 months"), (730, "1 to 2 years"))


@dataclass(frozen=True)
class Response:
    survey: str  # exit, nps
    product: str
    answer: str | None  # None: opened, never answered
    comment: str | None
    source: str
    answered_at: datetime | None
    tenure_days: int | None  # at the cancellation (exit) or at the survey (nps)


def tenure_band(days: int | None) -> str:
    if days is None:
        return "unknown"
    return next((band for limit, band in TENURE_BANDS if days < limit), "2 years or more")


def response_rates(invited: Counter, responses: list[Response]) -> list[dict]:
    """Per survey: invitations sent, links opened, answers, and the share answered."""
    rows = []
    for survey in sorted(set(invited) | {r.survey for r in responses}):
        mine = [r for r in responses if r.survey == survey]
        answered = sum(1 for r in mine if r.answer is not None and r.source == "page")
        sent = invited.get(survey, 0)
        rows.append(
            {
                "survey": survey,
                "invited": sent,
                "opened": sum(1 for r in mine if r.source == "page"),
                "answered": answered,
                "response_rate": f"{answered / sent:.0%}" if sent else "-",
                "answered_elsewhere": sum(
                    1 for r in mine if r.answer is not None and r.source != "page"
                ),
            }
        )
    return rows


def reasons(responses: list[Response], by: str) -> list[dict]:
    """Exit reasons counted by product or by tenure band, most frequent first."""
    counts = Counter(
        (r.product if by == "product" else tenure_band(r.tenure_days), r.answer)
        for r in responses
        if r.survey == "exit" and r.answer is not None
    )
    return [
        {by: group, "reason": reason, "answers": n}
        for (group, reason), n in sorted(
            counts.items(), key=lambda item: (item[0][0], -item[1], item[0][1])
        )
    ]


def nps(responses: list[Response]) -> list[dict]:
    """Per product and overall: promoters (9-10), passives (7-8), detractors (0-6), and NPS,
    the percentage of promoters minus that of detractors."""
    scores: dict[str, list[int]] = {}
    for r in responses:
        if r.survey == "nps" and r.answer is not None:
            scores.setdefault(r.product, []).append(int(r.answer))
            scores.setdefault("all products", []).append(int(r.answer))
    rows = []
    for product, values in sorted(
        scores.items(), key=lambda item: (item[0] == "all products", item[0])
    ):
        promoters = sum(1 for v in values if v >= 9)
        detractors = sum(1 for v in values if v <= 6)
        rows.append(
            {
                "product": product,
                "answers": len(values),
                "promoters": promoters,
                "passives": len(values) - promoters - detractors,
                "detractors": detractors,
                "nps": round(100 * (promoters - detractors) / len(values)),
            }
        )
    return rows


def latest_comments(responses: list[Response], most: int = 10) -> list[dict]:
    with_text = [r for r in responses if r.comment and r.answered_at is not None]
    with_text.sort(key=lambda r: r.answered_at, reverse=True)
    return [
        {
            "answered": r.answered_at.date().isoformat(),
            "survey": r.survey,
            "product": r.product,
            "answer": r.answer,
            "comment": r.comment,
        }
        for r in with_text[:most]
    ]


# Each table's columns, so that an empty table still has its header (a CSV with no rows).
COLUMNS = {
    "responses": ["survey", "invited", "opened", "answered", "response_rate", "answered_elsewhere"],
    "exit reasons by product": ["product", "reason", "answers"],
    "exit reasons by tenure": ["tenure", "reason", "answers"],
    "nps": ["product", "answers", "promoters", "passives", "detractors", "nps"],
    "latest comments": ["answered", "survey", "product", "answer", "comment"],
}


def report(invited: Counter, responses: list[Response]) -> dict[str, list[dict]]:
    """Every table of the results, by title (the CLI prints them, the flow publishes them)."""
    return {
        "responses": response_rates(invited, responses),
        "exit reasons by product": reasons(responses, "product"),
        "exit reasons by tenure": reasons(responses, "tenure"),
        "nps": nps(responses),
        "latest comments": latest_comments(responses),
    }
