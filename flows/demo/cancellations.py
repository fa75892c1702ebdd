from datetime import datetime, timedelta

from flows.cancellations import cancellations
from memberflow.core.db import get_engine
from memberflow.core.settings import get_settings
from memberflow.pipelines.cancellations.demo import members_come_and_go
from memberflow.pipelines.cancellations.steps import Offer

OFFERS = {
    "club-monthly": Offer(code="COMEBACK", description="a free month", valid_days=30),
    "club-europe": Offer(code="RETOUR", description="un mois offert", valid_days=30),
}


def day(as_of: datetime) -> dict:
    """One simulated day: members cancel (and a few come back or opt out) during the day, then
    the follow-up runs an hour after the others."""
    moves = members_come_and_go(get_engine(get_settings().database_url), as_of)
    total = cancellations(as_of=as_of + timedelta(hours=1), offers=OFFERS)[-1]
    return {f"goodbye {k}": v for k, v in total.items() if k in ("sent", "skipped")} | moves
