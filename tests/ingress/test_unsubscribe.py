"""One-click unsubscribe through the app's HTTP interface (in-process), on each database: the
link a real win-back carries works, a GET never unsubscribes, a bad link changes nothing."""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from memberflow.core.links import link_secret, make_token
from memberflow.core.models import Member
from memberflow.ingress.app import create_app
from tests.support.cancellations import follow_up_day, unsubscribe_path
from tests.support.clock import at
from tests.support.factories import add_subscription
from tests.support.outputs import Recorder


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def member(engine, external_id: str = "ada") -> Member:
    with Session(engine) as session:
        return session.exec(select(Member).where(Member.external_id == external_id)).one()


def winback_link(engine, settings) -> str:
    return unsubscribe_path(engine, settings, "ada", locale="fr")


def token_for(engine, settings, external_id: str, expires: datetime, purpose="unsubscribe"):
    with engine.begin() as conn:
        return make_token(link_secret(conn, settings), external_id, purpose, expires)


def test_the_page_asks_and_a_get_unsubscribes_nobody(client, engine, settings):
    path = winback_link(engine, settings)
    page = client.get(path)
    assert page.status_code == 200
    assert '<html lang="fr">' in page.text and f'action="{path}"' in page.text
    assert '<button type="submit">Me désabonner</button>' in page.text
    assert member(engine).unsubscribed_at is None  # a mail scanner's GET changes nothing


def test_one_click_post_unsubscribes_and_stops_every_later_marketing_message(
    client, engine, settings
):
    path = winback_link(engine, settings)
    answer = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200 and "Vous êtes désabonné" in answer.text
    ada = member(engine)
    assert ada.unsubscribed_at is not None and ada.marketing_consent is False
    again = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200  # a repeat is harmless
    out = Recorder()
    follow_up_day(engine, settings, at("2027-02-18 10:00"), out)  # the door-open day
    assert out.sent == []


@pytest.mark.parametrize("damage", ["tampered", "another member's", "not an unsubscribe link"])
def test_a_damaged_link_is_refused_kindly_and_changes_nothing(client, engine, settings, damage):
    path = winback_link(engine, settings)
    add_subscription(engine, "s2", current_period_end=at("2026-12-20 00:00"), member="bob")
    expires = datetime.now(UTC) + timedelta(days=10)
    token = path.rsplit("/", 1)[1]
    if damage == "tampered":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif damage == "another member's":  # ada's signature on bob's id
        bob = token_for(engine, settings, "bob", expires)
        token = ".".join([bob.split(".")[0], *token.split(".")[1:]])
    else:
        token = token_for(engine, settings, "ada", expires, purpose="survey")
    for answer in (client.get(f"/unsubscribe/{token}"), client.post(f"/unsubscribe/{token}")):
        assert answer.status_code == 400
        assert "This link does not work" in answer.text and settings.support_email in answer.text
    assert member(engine).unsubscribed_at is None
    assert member(engine, "bob").unsubscribed_at is None


def test_an_expired_link_says_so_and_changes_nothing(client, engine, settings):
    add_subscription(engine, "s1", current_period_end=at("2026-12-20 00:00"), member="ada")
    token = token_for(engine, settings, "ada", datetime.now(UTC) - timedelta(minutes=1))
    answer = client.post(f"/unsubscribe/{token}")
    assert answer.status_code == 400 and "has expired" in answer.text
    assert member(engine).unsubscribed_at is None
