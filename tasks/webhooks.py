"""Reading what the ingress stored, for flows that webhooks trigger."""

from prefect import task

from memberflow.core import db as database
from memberflow.ingress import inbox


@task(retries=2, retry_delay_seconds=5)
def describe_webhook(database_url: str, webhook_id: int) -> dict:
    return inbox.describe(database.get_engine(database_url), webhook_id)
