"""Sample webhooks from tests/data, signed as each provider signs them."""

import json
from pathlib import Path

from memberflow.ingress.replay import signed_request

DATA = Path(__file__).parents[1] / "data"

SECRETS = {
    "MEMBERFLOW_STRIPE_WEBHOOK_SECRET": "whsec_test_old,whsec_test_new",
    "MEMBERFLOW_MEMBERPRESS_WEBHOOK_KEY": "mp-key-123",
    "MEMBERFLOW_MEMBERMOUSE_TOKEN": "mm-token-456",
    "MEMBERFLOW_WEBHOOK_SECRET": "mf-secret-789",
}


def sample(provider: str, name: str, **changes) -> dict:
    """A payload from tests/data; `changes` set top-level keys (`id`, `created`...)."""
    payload = json.loads((DATA / provider / f"{name}.json").read_text())
    payload.update(changes)
    return payload


def send(client, provider: str, payload: dict, settings):
    path, body, headers = signed_request(provider, json.dumps(payload).encode(), settings)
    return client.post(path, content=body, headers=headers)
