from datetime import datetime, timedelta

from flows.cancel_moment import cancel_moment
from memberflow.core.db import get_engine
from memberflow.core.settings import get_settings
from memberflow.ingress.app import create_app
from memberflow.ingress.serve import BackgroundServer, free_port
from memberflow.pipelines.cancel_moment.demo import (
    ALTERNATIVES,
    members_use_the_page,
    provider_confirms,
)


def day(as_of: datetime) -> dict:
    """One simulated day: a few members go through the real cancel page over HTTP on an
    ingress served for the day (offered a pause when they are not using it), the flow carries
    their decisions out (the sandbox gateway), and the provider's confirmation follows."""
    settings = get_settings()
    if not settings.cancel_alternatives:
        settings = settings.model_copy(update={"cancel_alternatives": ALTERNATIVES})
    db = get_engine(settings.database_url)
    with BackgroundServer(create_app(settings), free_port()) as ingress:
        done = members_use_the_page(db, settings, ingress.url, as_of + timedelta(hours=4))
    cancel_moment(as_of=as_of + timedelta(hours=5))
    provider_confirms(db, as_of + timedelta(hours=5))
    return done
