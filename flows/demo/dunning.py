from datetime import datetime, timedelta

from flows.dunning import dunning
from memberflow.core.db import get_engine
from memberflow.core.settings import get_settings
from memberflow.pipelines.dunning.demo import members_update_cards, renew_due


def day(as_of: datetime) -> dict:
    """One simulated day: the renewals that fell due are charged (about one in eight fails),
    some members put in a new card, and a dunning run follows an hour later."""
    db = get_engine(get_settings().database_url)
    renewed, failed = renew_due(db, as_of)
    members_update_cards(db, as_of)
    recovery = dunning(as_of=as_of + timedelta(hours=1))
    return {
        "renewals_paid": renewed,
        "renewals_failed": failed,
        "retries": recovery["retries"],
        "recovered": recovery["recovered"],
        "dunning_emails": recovery["emails_sent"],
    }
