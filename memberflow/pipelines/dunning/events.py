"""The Prefect event a closed dunning case announces."""

import uuid

from memberflow.pipelines.dunning.policy import FinalAction

_EVENT_NAMESPACE = uuid.UUID("0b6f3c1e-5d0a-4b57-8f0e-64756e6e696e")


def case_event(row: dict) -> dict:
    """The Prefect event a closed case announces (`emit_event` keywords): one id per case, so
    announcing twice still fires an automation once."""
    subscription_ref = f"memberflow.subscription.{row['sub_external_id']}"
    return {
        "id": uuid.uuid5(_EVENT_NAMESPACE, f"case:{row['id']}"),
        "event": f"memberflow.pipelines.dunning.{row['outcome']}",
        "resource": {"prefect.resource.id": subscription_ref},
        "related": [
            {
                "prefect.resource.id": f"memberflow.invoice.{row['invoice_external_id']}",
                "prefect.resource.role": "invoice",
            },
            {
                "prefect.resource.id": f"memberflow.member.{row['member_external_id']}",
                "prefect.resource.role": "member",
            },
        ],
        "payload": {
            "case_id": row["id"],
            "invoice_id": row["invoice_id"],
            "subscription_id": row["subscription_id"],
            "outcome": row["outcome"],
            "final_action": row["final_action"],
            "involuntary_churn": row["final_action"] == FinalAction.cancel,
            "recovered_minor": row["recovered_minor"],
            "currency": row["currency"],
            "recovered_by": row["recovered_by"],
        },
    }
