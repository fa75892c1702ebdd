"""What a webhook-triggered deployment runs until its pipeline exists: it records, on the flow
run's page, the webhook and the member, subscription and invoice it touched. Issue 5 (dunning)
and the cancellation follow-up point their triggers in prefect.yaml at their own flows."""

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from memberflow.core.settings import get_settings
from tasks.webhooks import describe_webhook


@flow(name="webhook-event")
def webhook_event(
    event: str, webhook_id: int, subscription_id: int | None = None, invoice_id: int | None = None
) -> dict:
    """Records a memberflow event from the ingress for ops to see.

    Args:
        event: The memberflow event name, e.g. memberflow.payment.failed.
        webhook_id: The inbox row that carried it (`memberflow ingress inbox`).
        subscription_id: memberflow's id of the subscription concerned.
        invoice_id: memberflow's id of the invoice concerned, for payment events.
    """
    summary = describe_webhook(get_settings().database_url, webhook_id)
    lines = [f"## {event}", ""] + [f"- **{k}**: {v}" for k, v in summary.items() if v]
    create_markdown_artifact("\n".join(lines), key="webhook-event", description=event)
    return summary
