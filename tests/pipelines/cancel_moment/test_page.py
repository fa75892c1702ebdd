"""The cancel page through the app's HTTP interface (in-process), on each database: what the
member has, the way out in two clicks, at most one alternative when the owner configured one
for the reason given, the decision recorded once whatever is submitted twice, and a clear page
for every bad link. A GET or HEAD (a mail scanner) changes nothing."""

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from memberflow.core.models import CancelVisit
from memberflow.ingress.app import create_app
from tests.support.cancel_page import expired_link, form_token, link_path, manage_link
from tests.support.factories import update_subscription
from tests.support.wording import unkind_words

ALTERNATIVES = {
    "gold": {
        "unused": {"kind": "pause", "months": 2},
        "too_expensive": {
            "kind": "switch",
            "price": "price_basic",
            "description": "Basic at $9 a month",
            "descriptions": {"fr": "Basic à 9 $ par mois"},
        },
    },
    "*": {"off": True},
}


@pytest.fixture
def client(settings, monkeypatch):
    monkeypatch.setattr(settings, "cancel_alternatives", json.dumps(ALTERNATIVES))
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def visits(engine) -> list[CancelVisit]:
    with engine.connect() as conn:
        return conn.execute(select(CancelVisit.__table__)).all()


def test_the_first_screen_says_what_they_have_and_the_way_out(client, engine, settings):
    path = manage_link(engine, settings, amount_minor=1900)
    page = client.get(path)
    assert page.status_code == 200
    assert "Gold Club: $19.00 a month. Next charge on December 20, 2026." in page.text
    assert page.text.count("Cancel my membership</button>") == 2  # above and below the question
    assert "checked" not in page.text  # nothing pre-ticked
    assert page.headers["Referrer-Policy"] == "no-referrer" and "<script" not in page.text
    client.head(path)
    client.get(path)  # a mail scanner, again: one visit, nothing decided
    [visit] = visits(engine)
    assert visit.decision is None and visit.reason is None


def test_no_reason_no_alternative_cancels_in_two_clicks_once(client, engine, settings):
    path = manage_link(engine, settings)
    start = client.get(path)
    confirm = client.post(path, data={"form_token": form_token(start)})  # click 1
    assert "Cancel your membership?" in confirm.text
    assert "It ends on December 20, 2026" in confirm.text
    assert "Cancel my membership now" in confirm.text and "Pause" not in confirm.text
    done = client.post(
        f"{path}/decide", data={"form_token": form_token(confirm), "choice": "cancel"}
    )
    assert "Your membership ends on December 20, 2026. You keep access until then" in done.text
    assert "Your decision is recorded" in done.text  # carried out at the provider next
    again = client.post(
        f"{path}/decide", data={"form_token": form_token(confirm), "choice": "cancel"}
    )
    assert "Your membership ends on" in again.text  # a double submit: shown, not redone
    [visit] = visits(engine)
    assert (visit.decision, visit.reason, visit.offered) == ("cancel", None, None)


def test_a_reason_with_an_alternative_shows_exactly_one_beside_the_way_out(
    client, engine, settings
):
    path = manage_link(engine, settings, locale="fr")
    start = client.get(path)
    confirm = client.post(path, data={"form_token": form_token(start), "reason": "too_expensive"})
    assert "Passer à Basic à 9 $ par mois à partir du" in confirm.text
    assert confirm.text.count('type="submit"') == 2  # "no thanks, cancel" and the one option
    assert "Non merci, résilier" in confirm.text
    done = client.post(
        f"{path}/decide", data={"form_token": form_token(confirm), "choice": "accept"}
    )
    assert "vous serez sur Basic à 9 $ par mois" in done.text
    [visit] = visits(engine)
    assert visit.decision == "switch" and json.loads(visit.offered)["price"] == "price_basic"


def test_no_alternative_where_the_owner_configured_none(client, engine, settings):
    path = manage_link(engine, settings, product="silver")  # `*`: off
    start = client.get(path)
    confirm = client.post(path, data={"form_token": form_token(start), "reason": "unused"})
    assert "Cancel my membership now" in confirm.text and "Pause" not in confirm.text
    other = manage_link(engine, settings, member="bo", sub="s2")  # gold, a reason without one
    start = client.get(other)
    confirm = client.post(other, data={"form_token": form_token(start), "reason": "other"})
    assert "Pause" not in confirm.text and "Switch" not in confirm.text


def test_two_tabs_and_a_second_link_decide_once(client, engine, settings):
    path = manage_link(engine, settings)
    tab1, tab2 = client.get(path), client.get(path)
    confirm1 = client.post(path, data={"form_token": form_token(tab1), "reason": "unused"})
    confirm2 = client.post(path, data={"form_token": form_token(tab2), "reason": "unused"})
    client.post(f"{path}/decide", data={"form_token": form_token(confirm1), "choice": "accept"})
    second = client.post(
        f"{path}/decide", data={"form_token": form_token(confirm2), "choice": "cancel"}
    )
    assert "paused for 2 months" in second.text  # what was decided first, not a second thing
    another = link_path(engine, settings, "ada", "s1")  # a later email's link
    assert "paused for 2 months" in client.get(another).text
    decided = [v for v in visits(engine) if v.decision]
    assert [v.decision for v in decided] == ["pause"]


def test_a_confirmation_no_longer_shown_cannot_be_accepted(client, engine, settings):
    """Tab 1 was offered a pause; tab 2 then went on without a reason (no offer): tab 1's
    "pause" is out of date, and says so."""
    path = manage_link(engine, settings)
    tab1, tab2 = client.get(path), client.get(path)
    confirm1 = client.post(path, data={"form_token": form_token(tab1), "reason": "unused"})
    client.post(path, data={"form_token": form_token(tab2)})
    stale = client.post(
        f"{path}/decide", data={"form_token": form_token(confirm1), "choice": "accept"}
    )
    assert stale.status_code == 403 and "out of date" in stale.text
    assert [v.decision for v in visits(engine)] == [None]


def test_bad_links_get_a_clear_page_and_change_nothing(client, engine, settings):
    path = manage_link(engine, settings)
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert "has been changed" in client.get(tampered).text
    assert client.get(tampered).status_code == 400
    expired = client.get(expired_link(engine, settings, "ada", "s1"))
    assert expired.status_code == 400 and "has expired" in expired.text
    manage_link(engine, settings, member="bo", sub="s2")
    not_theirs = link_path(engine, settings, "ada", "s2")  # bo's subscription in ada's link
    assert client.get(not_theirs).status_code == 400
    stale = client.post(path, data={"form_token": "forged", "reason": "unused"})
    assert stale.status_code == 403 and "out of date" in stale.text
    assert all(v.decision is None and v.reason is None for v in visits(engine))


def test_an_already_canceled_membership_says_so(client, engine, settings):
    path = manage_link(engine, settings)
    update_subscription(engine, "s1", cancel_at_period_end=True)
    page = client.get(path)
    assert "Your membership is canceled" in page.text and "You keep access until" in page.text
    assert "<form" not in page.text


@pytest.mark.parametrize("lang", ["en", "fr", "es", "de"])
def test_no_screen_guilt_trips_or_hurries(client, engine, settings, lang):
    path = manage_link(engine, settings, locale=lang)
    start = client.get(path)
    confirm = client.post(path, data={"form_token": form_token(start), "reason": "unused"})
    done = client.post(
        f"{path}/decide", data={"form_token": form_token(confirm), "choice": "cancel"}
    )
    for screen in (start, confirm, done):
        assert f'lang="{lang}"' in screen.text
        assert unkind_words(screen.text, lang) == []
