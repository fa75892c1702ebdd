"""The ingress's defect cases, on each database. Every malformed, unsigned, oversized, wrongly
encoded or replayed webhook gets a 4xx that says what is wrong and stores nothing. A database
deleted or unreachable under a running ingress gets a 503 with Retry-After for every webhook,
acknowledges nothing it did not store, and /health says degraded until it is back."""

import json
import os
import time
import uuid
from pathlib import Path

import pytest
import stripe
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from memberflow.core import db as database
from memberflow.core import signing
from memberflow.core.models import InboxEvent
from memberflow.core.settings import get_settings
from memberflow.ingress.app import create_app
from tests.support.proxy import TcpProxy
from tests.support.webhooks import SECRETS, sample, send

STRIPE_SECRET = "whsec_test_new"
MEMBERFLOW_SECRET = SECRETS["MEMBERFLOW_WEBHOOK_SECRET"]
HOUR = 3600


def stripe_signed(body: bytes, age: float = 0):
    """Stripe's signature header, made when the test sends (`age` seconds ago)."""

    def headers() -> dict[str, str]:
        header = stripe.WebhookSignature.generate_signature_header(
            body.decode("latin-1"), STRIPE_SECRET, timestamp=int(time.time() - age)
        )
        return {"Stripe-Signature": header}

    return headers


def memberflow_signed(body: bytes, age: float = 0):
    return lambda: signing.sign(MEMBERFLOW_SECRET, body, now=time.time() - age)


def fixed(headers: dict[str, str]):
    return lambda: headers


def stripe_body(**changes) -> bytes:
    return json.dumps(sample("stripe", "customer.created", **changes)).encode()


def memberflow_body() -> bytes:
    return json.dumps(sample("memberflow", "payment.failed")).encode()


def memberpress_body() -> bytes:
    return json.dumps(sample("memberpress", "subscription-created")).encode()


MP_KEY = fixed({"MemberPress-Webhook-Key": SECRETS["MEMBERFLOW_MEMBERPRESS_WEBHOOK_KEY"]})
UNSIGNED = fixed({})
UTF16 = json.dumps(sample("stripe", "customer.created")).encode("utf-16")

# (case, path, body, its headers (made as it is sent), status, words the error must contain)
BAD_REQUESTS = [
    ("malformed JSON", "stripe", b'{"id": "evt_1", ', stripe_signed(b'{"id": "evt_1", '), 400,
     "not valid JSON"),
    ("a JSON list, not an object", "stripe", b"[1, 2]", stripe_signed(b"[1, 2]"), 400,
     "must be a JSON object"),
    ("unsigned Stripe", "stripe", stripe_body(), UNSIGNED, 401, "no Stripe-Signature header"),
    ("signed with another secret", "stripe", stripe_body(),
     lambda: {"Stripe-Signature": f"t={int(time.time())},v1={'0' * 64}"}, 401,
     "MEMBERFLOW_STRIPE_WEBHOOK_SECRET"),
    ("unsigned MemberPress", "memberpress", memberpress_body(), UNSIGNED, 401,
     "no MemberPress-Webhook-Key header"),
    ("unsigned memberflow", "memberflow", memberflow_body(), UNSIGNED, 401,
     "no Memberflow-Timestamp and Memberflow-Signature"),
    ("MemberMouse without its token", "membermouse", b"event_type=mm_member_add", UNSIGNED, 401,
     "token"),
    ("Stripe in UTF-16", "stripe", UTF16, stripe_signed(UTF16), 400,
     "not UTF-8 text (it looks like UTF-16)"),
    ("MemberPress in UTF-16", "memberpress", memberpress_body().decode().encode("utf-16"), MP_KEY,
     400, "not UTF-8 text (it looks like UTF-16)"),
    ("MemberPress in Windows-1252", "memberpress", '{"event": "caf\xe9"}'.encode("cp1252"),
     MP_KEY, 400, "not UTF-8 text: byte 14"),
    ("memberflow in UTF-16", "memberflow", memberflow_body().decode().encode("utf-16"),
     memberflow_signed(memberflow_body().decode().encode("utf-16")), 400,
     "send it as UTF-8"),
    ("a Stripe webhook replayed an hour later", "stripe", stripe_body(),
     stripe_signed(stripe_body(), age=HOUR), 401, "Timestamp outside the tolerance"),
    ("a memberflow webhook replayed an hour later", "memberflow", memberflow_body(),
     memberflow_signed(memberflow_body(), age=HOUR), 401, "stale"),
    ("over the size limit", "stripe", b"{" + b" " * (1 << 20) + b"}", UNSIGNED, 413,
     "MEMBERFLOW_INGRESS_MAX_BODY_BYTES"),
]  # fmt: skip


def stored(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(InboxEvent)).scalar_one()


@pytest.mark.parametrize(
    "path, body, headers, status, words",
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_a_bad_webhook_gets_a_clear_4xx_and_stores_nothing(
    client, configured, engine, path, body, headers, status, words
):
    response = client.post(f"/webhooks/{path}", content=body, headers=headers())
    assert response.status_code == status, response.text
    assert words in response.json()["error"], response.json()
    assert response.json()["provider"] == path
    assert stored(engine) == 0
    assert client.get("/health").json()["status"] == "ok"


def test_the_same_webhook_delivered_twice_is_stored_once(client, configured, engine):
    body = stripe_body(id="evt_twice")
    headers = stripe_signed(body)()
    first = client.post("/webhooks/stripe", content=body, headers=headers)
    again = client.post("/webhooks/stripe", content=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json()["status"] == "duplicate" and stored(engine) == 1


# -- the database gone under a running ingress ----------------------------------------------


def webhook(n: int) -> dict:
    return sample("stripe", "customer.created", id=f"evt_gone_{n}")


def refused_while_gone(client, settings, numbers) -> list[str]:
    """Sends webhooks `numbers`; each must be refused with a 503 and Retry-After."""
    errors = []
    for n in numbers:
        response = send(client, "stripe", webhook(n), settings)
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] and "nothing was stored" in response.text
        errors.append(response.json()["error"])
    return errors


def event_ids(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(InboxEvent.event_id)).scalars())


def test_a_sqlite_file_deleted_under_the_ingress_acknowledges_nothing(client, configured):
    if not configured.database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's deleted database is the test below")
    path = Path(configured.database_url.removeprefix("sqlite:///"))
    assert send(client, "stripe", webhook(1), configured).status_code == 200
    kept = path.with_suffix(".kept")
    for suffix in ("", "-wal"):  # to read afterwards what was stored (WAL mode: both files)
        if Path(f"{path}{suffix}").exists():
            os.link(f"{path}{suffix}", f"{kept}{suffix}")
    path.unlink()  # the configured path is gone
    errors = refused_while_gone(client, configured, [2, 3])
    assert "was removed or replaced" in errors[0] and "restart the process" in errors[0]
    health = client.get("/health")
    assert health.status_code == 503 and health.json()["status"] == "degraded"
    assert not path.exists()  # the ingress made no empty database in its place
    assert event_ids(create_engine(f"sqlite:///{kept}")) == {"evt_gone_1"}


@pytest.fixture
def own_postgres_database(configured, monkeypatch):
    """A PostgreSQL database of this test's own, so that it can be dropped under the ingress."""
    if not configured.database_url.startswith("postgresql"):
        pytest.skip("a server database: SQLite's deleted file is the test above")
    name = f"memberflow_gone_{uuid.uuid4().hex[:8]}"
    admin = create_engine(configured.database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(configured.database_url).set(database=name).render_as_string(False)
    SQLModel.metadata.create_all(database.get_engine(url))
    monkeypatch.setenv("MEMBERFLOW_DATABASE_URL", url)
    get_settings.cache_clear()
    yield name, get_settings()
    database.get_engine(url).dispose()
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def test_a_postgresql_database_dropped_under_the_ingress_acknowledges_nothing(
    own_postgres_database, configured
):
    name, settings = own_postgres_database
    with TestClient(create_app(settings)) as client:
        assert send(client, "stripe", webhook(1), settings).status_code == 200
        admin = create_engine(configured.database_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()
        errors = refused_while_gone(client, settings, [2, 3])
        assert "the database is unavailable" in errors[0]
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["problem"] == (
            "the database is unreachable"
        )


def test_a_database_unreachable_under_the_ingress_acknowledges_nothing_then_recovers(
    configured, monkeypatch, engine
):
    """PostgreSQL through a proxy that is cut, then restored: every webhook sent meanwhile is
    refused, none is stored, and the provider's retries after it are stored once each."""
    if not configured.database_url.startswith("postgresql"):
        pytest.skip("a server that goes away: SQLite is a file (its deletion is tested above)")
    with TcpProxy(make_url(configured.database_url).port) as proxy:
        url = make_url(configured.database_url).set(port=proxy.port)
        monkeypatch.setenv("MEMBERFLOW_DATABASE_URL", url.render_as_string(False))
        get_settings.cache_clear()
        settings = get_settings()
        with TestClient(create_app(settings)) as client:
            for n in (1, 2):
                assert send(client, "stripe", webhook(n), settings).status_code == 200
            proxy.cut()
            started = time.monotonic()
            errors = refused_while_gone(client, settings, [3, 4, 5])
            assert time.monotonic() - started < 10  # refused at once, not after a long hang
            assert all("the database is unavailable" in error for error in errors)
            health = client.get("/health")
            assert health.status_code == 503 and health.json()["status"] == "degraded"
            assert event_ids(engine) == {"evt_gone_1", "evt_gone_2"}  # what was acknowledged
            proxy.restore()
            assert client.get("/health").status_code == 200
            for n in (3, 4, 5, 3):  # the provider's retries, one of them twice
                assert send(client, "stripe", webhook(n), settings).status_code == 200
        database.get_engine(url.render_as_string(False)).dispose()
    assert event_ids(engine) == {f"evt_gone_{n}" for n in range(1, 6)}
    assert stored(engine) == 5
