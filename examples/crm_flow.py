"""Custom tasks around the engine: enrich from a CRM before rendering, post a summary after."""

import json
from datetime import datetime

from prefect import flow, task

from memberflow.core.settings import get_settings
from memberflow.messaging.http import TIMEOUT, make_session, post_json
from memberflow.pipelines.reminders.pipeline import ReminderPipeline
from memberflow.plugin import run_pipeline


@task
def enrich_from_crm(fields: list[dict], crm_url: str) -> list[dict]:
    """One CRM call per batch (never one per member): adds each member's tier."""
    emails = [f["email"] for f in fields]
    tiers = make_session().post(crm_url, json={"emails": emails}, timeout=TIMEOUT).json()
    return [{**f, "tier": tiers.get(f["email"], "member")} for f in fields]


@task
def post_summary(rows: list[dict], webhook_url: str) -> None:
    total = rows[-1]
    text = f"Reminders: {total['sent']} sent, {total['failed']} failed, {total['expired']} expired"
    post_json(make_session(), webhook_url, json.dumps({"text": text}).encode(), {})


@flow(name="billing-reminders-with-crm")
def reminders_with_crm(
    crm_url: str, summary_webhook_url: str, as_of: datetime | None = None, output: str = ""
) -> list[dict]:
    rows = run_pipeline(
        ReminderPipeline(),
        settings=get_settings(),
        as_of=as_of,
        output=output,
        enrich=lambda fields: enrich_from_crm(fields, crm_url),
    )
    post_summary(rows, summary_webhook_url)
    return rows
