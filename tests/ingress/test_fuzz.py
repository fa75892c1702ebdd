"""Property: whatever arrives, the ingress answers 2xx or 4xx, never 5xx, and a webhook that
passes authentication never breaks a translator or the domain code (nothing stored as failed)."""

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import SQLModel

from memberflow.core import db as database
from memberflow.core.settings import Settings
from memberflow.ingress import inbox
from memberflow.ingress.app import create_app
from memberflow.ingress.providers import membermouse, memberpress, stripe
from memberflow.ingress.replay import signed_request
from tests.support.webhooks import DATA, SECRETS

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    SQLModel.metadata.create_all(database.get_engine(url))
    secrets = {k.removeprefix("MEMBERFLOW_").lower(): v for k, v in SECRETS.items()}
    config = Settings(database_url=url, ingress_max_body_bytes=20_000, **secrets)
    with TestClient(create_app(config)) as client:
        yield client, config, database.get_engine(url)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["", "0", "12.50", "abc", "2026-11-22 09:00:00", "0000-00-00 00:00:00"]),
)
KEYS = [
    "id",
    "type",
    "created",
    "data",
    "object",
    "customer",
    "subscription",
    "status",
    "items",
    "price",
    "product",
    "unit_amount",
    "currency",
    "recurring",
    "interval",
    "lines",
    "period",
    "end",
    "amount_due",
    "charge",
    "payment_intent",
    "last_payment_error",
    "outcome",
    "card",
    "exp_month",
    "exp_year",
    "last4",
    "parent",
    "subscription_details",
    "event",
    "member",
    "membership",
    "email",
    "total",
    "created_at",
    "expires_at",
    "period_type",
    "price",
    "previous_attributes",
    "current_period_end",
    "trial_end",
    "cancellation_details",
]
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=6),
    ),
    max_leaves=25,
)
EVENT_NAMES = {
    "stripe": ("type", list(stripe.EVENT_TYPES)),
    "memberpress": ("event", list(memberpress.EVENT_TYPES)),
    "memberflow": ("type", ["payment.failed", "subscription.canceled", "card.updated"]),
}


def _check(response, engine):
    assert response.status_code < 500, response.text
    event(
        f"{response.status_code} {response.json().get('status', '')}"
    )  # --hypothesis-show-statistics
    with engine.connect() as conn:
        broken = conn.execute(
            select(inbox.inbox.c.event_type, inbox.inbox.c.note).where(
                inbox.inbox.c.status == "failed"
            )
        ).all()
    assert broken == []


@FUZZ
@given(
    provider=st.sampled_from(["stripe", "memberpress", "membermouse", "memberflow"]),
    body=st.binary(max_size=300),
    headers=st.dictionaries(
        st.sampled_from(
            [
                "Stripe-Signature",
                "MemberPress-Webhook-Key",
                "X-Memberflow-Token",
                "Memberflow-Timestamp",
                "Memberflow-Signature",
                "Content-Length",
                "Content-Type",
            ]
        ),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    ),
)
def test_random_unsigned_input_never_yields_a_5xx(fuzz_app, provider, body, headers):
    client, _, engine = fuzz_app
    headers.pop("Content-Length", None)  # the client sets the true length
    response = client.post(f"/webhooks/{provider}", content=body, headers=headers)
    assert response.status_code in (400, 401, 413, 422), response.text
    _check(response, engine)


@FUZZ
@given(
    provider=st.sampled_from(sorted(EVENT_NAMES)),
    payload=st.dictionaries(st.sampled_from(KEYS), json_values, max_size=8),
    event_type=st.data(),
)
def test_signed_random_json_never_breaks_a_translator(fuzz_app, provider, payload, event_type):
    client, config, engine = fuzz_app
    key, names = EVENT_NAMES[provider]
    if event_type.draw(st.booleans()):
        payload[key] = event_type.draw(st.sampled_from(names))
    path, body, headers = signed_request(provider, json.dumps(payload).encode(), config)
    _check(client.post(path, content=body, headers=headers), engine)


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(
            [
                "event_type",
                "member_id",
                "email",
                "membership_level",
                "status",
                "order_number",
                "order_total",
                "order_products",
                "order_transaction_id",
                "membership_level_name",
            ]
        ),
        st.one_of(
            st.text(max_size=20),
            st.sampled_from(list(membermouse.EVENT_TYPES) + ["1", "2", "9", "19.00", "[]", "[{}]"]),
        ),
    )
)
def test_membermouse_random_parameters_never_break_the_translator(fuzz_app, params):
    client, config, engine = fuzz_app
    path, body, headers = signed_request("membermouse", json.dumps(params).encode(), config)
    _check(client.post(path, content=body, headers=headers), engine)


SAMPLES = sorted(p for p in DATA.glob("*/*.json") if p.parent.name != "membermouse")


def _paths(value, prefix=()):
    """Every key path in a JSON value, so that a mutation can hit any field."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from _paths(child, (*prefix, key))


@FUZZ
@given(sample_index=st.integers(0, len(SAMPLES) - 1), mutations=st.data())
def test_mutated_real_payloads_never_break_a_translator(fuzz_app, sample_index, mutations):
    client, config, engine = fuzz_app
    path = SAMPLES[sample_index]
    payload = json.loads(path.read_text())
    for _ in range(mutations.draw(st.integers(1, 4))):
        paths = list(_paths(payload))
        if not paths:
            break  # everything deleted already
        *parents, key = mutations.draw(st.sampled_from(paths))
        target = payload
        for parent in parents:
            target = target.get(parent) if isinstance(target, dict) else None
        if isinstance(target, dict) and key in target:
            if mutations.draw(st.booleans()):
                del target[key]
            else:
                target[key] = mutations.draw(json_values)
    payload["id"] = mutations.draw(st.text(min_size=1, max_size=12))  # a new delivery each time
    body, provider = json.dumps(payload).encode(), path.parent.name
    target_path, body, headers = signed_request(provider, body, config)
    _check(client.post(target_path, content=body, headers=headers), engine)
