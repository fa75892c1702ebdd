"""The Prefect event a webhook announces, in the wire format of Prefect's `POST /api/events`.
Its id derives from the provider's event id, so however often a provider retries, Prefect sees
one event and an automation fires once."""

import uuid
from datetime import datetime

from memberflow.ingress.apply import Applied
from memberflow.ingress.changes import Change

_NAMESPACE = uuid.UUID("6f0c5a8e-4f7e-4d8a-9a53-6d656d626572")


def event_id(provider: str, provider_event_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{provider}:{provider_event_id}"))


def _resource(kind: str, external_id: str, role: str | None = None, **labels: str) -> dict:
    resource = {"prefect.resource.id": f"memberflow.{kind}.{external_id}", **labels}
    if role:
        resource["prefect.resource.role"] = role
    return resource


def build(change: Change, applied: Applied, webhook_id: int) -> dict:
    """Resource: the subscription (else the member); related: member, invoice, webhook. The
    payload carries memberflow's ids, which is what deployments' parameters are made of."""
    member, subscription, invoice = applied.member, applied.subscription, applied.invoice
    related = [_resource("webhook", str(webhook_id), "webhook")]
    if subscription is not None:
        resource = _resource("subscription", subscription.external_id)
        related.insert(0, _resource("member", member.external_id, "member"))
    else:
        resource = _resource("member", member.external_id)
    if invoice is not None:
        related.insert(1, _resource("invoice", invoice.external_id, "invoice"))
    resource["prefect.resource.name"] = resource["prefect.resource.id"].removeprefix("memberflow.")
    resource["memberflow.provider"] = change.provider
    payload = {
        "webhook_id": webhook_id,
        "provider": change.provider,
        "provider_event_id": change.event_id,
        "provider_event_type": change.event_type,
        "member_id": member.id,
        "subscription_id": subscription.id if subscription else None,
        "subscription_status": subscription.status if subscription else None,
        "invoice_id": invoice.id if invoice else None,
        **_invoice_payload(invoice),
        **{k: v for k, v in change.details.items() if v is not None},
    }
    return {
        "id": event_id(change.provider, change.event_id),
        "occurred": _iso(change.occurred_at),
        "event": applied.event,
        "resource": resource,
        "related": related,
        "payload": payload,
    }


def _invoice_payload(invoice) -> dict:
    if invoice is None:
        return {}
    return {
        "amount_minor": invoice.amount_minor,
        "currency": invoice.currency,
        "attempt_count": invoice.attempt_count,
        "decline_code": invoice.decline_code,
        "advice_code": invoice.advice_code,
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
