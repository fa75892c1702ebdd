from datetime import datetime, timedelta

from flows.surveys import surveys
from memberflow.core.db import get_engine
from memberflow.core.settings import get_settings
from memberflow.ingress.app import create_app
from memberflow.ingress.serve import BackgroundServer, free_port
from memberflow.pipelines.surveys.demo import members_answer


def day(as_of: datetime) -> dict:
    """One simulated day: the survey run (two hours after the others), then some members answer
    their exit survey through the real page, over HTTP, on an ingress served for the day."""
    settings = get_settings()
    total = surveys(as_of=as_of + timedelta(hours=2))[-1]
    db = get_engine(settings.database_url)
    with BackgroundServer(create_app(settings), free_port()) as ingress:
        answered = members_answer(db, settings, ingress.url, as_of + timedelta(hours=3))
    return {"surveys sent": total.get("sent", 0), "surveys answered": answered}
