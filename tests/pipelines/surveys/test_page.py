"""The survey page through the app's HTTP interface (in-process), on each database: a GET
never answers, a POST with the page's own form token does, the last answer counts, and a bad
link of any kind records nothing."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from memberflow.core.links import link_secret, make_token
from memberflow.core.models import SurveyResponse
from memberflow.ingress.app import create_app
from tests.support.cancellations import cancel
from tests.support.clock import at
from tests.support.factories import add_subscription
from tests.support.outputs import Recorder
from tests.support.surveys import links, survey_day


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def invitation(engine, settings, member="ada", sub="s1", locale="en"):
    add_subscription(
        engine, sub, current_period_end=at("2026-12-20 00:00"), member=member, locale=locale
    )
    cancel(engine, sub, at("2026-12-01 09:00"))
    out = Recorder()
    survey_day(engine, settings, at("2026-12-02 10:00"), out)
    [message] = [m for m in out.sent if m.to_email == f"{member}@example.com"]
    return dict(zip(message.fields["reason_urls"], links(message.text), strict=True))


def form_of(page) -> dict:
    return {"form_token": re.search(r'name="form_token" value="([^"]+)"', page.text)[1]}


def responses(engine) -> list[SurveyResponse]:
    with Session(engine) as session:
        return session.exec(select(SurveyResponse)).all()


def test_opening_a_link_counts_the_open_preselects_the_answer_and_records_nothing(
    client, engine, settings
):
    page = client.get(invitation(engine, settings)["unused"])
    assert page.status_code == 200
    assert re.search(r'value="unused" checked', page.text)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "<script" not in page.text
    client.get(page.url.path)  # a mail scanner opens it again
    [response] = responses(engine)
    assert (response.answer, response.opens, response.answered_at) == (None, 2, None)


def test_a_post_records_the_answer_and_a_later_one_replaces_it(client, engine, settings):
    urls = invitation(engine, settings)
    page = client.get(urls["too_expensive"])
    answer = client.post(
        urls["too_expensive"],
        data={**form_of(page), "answer": "too_expensive", "comment": "  Too dear for now  "},
    )
    assert answer.status_code == 200 and "We have your answer" in answer.text
    again = client.get(urls["unused"])
    assert "You can change your answer" in again.text
    client.post(urls["unused"], data={**form_of(again), "answer": "unused", "comment": ""})
    [response] = responses(engine)
    assert (response.answer, response.comment, response.source) == ("unused", None, "page")
    replayed = client.get(urls["too_expensive"])  # the first link again, after the change
    assert re.search(r'value="too_expensive" checked', replayed.text)
    assert responses(engine)[0].answer == "unused"  # opening it changed nothing


def test_the_too_expensive_page_shows_the_products_offer(client, engine, settings):
    from memberflow.pipelines.surveys.pipeline import SurveyPipeline

    add_subscription(engine, "s1", current_period_end=at("2026-12-20 00:00"), member="ada")
    cancel(engine, "s1", at("2026-12-01 09:00"))
    out = Recorder()
    offers = {"monthly": {"code": "COMEBACK", "description": "a free month"}}
    survey_day(engine, settings, at("2026-12-02 10:00"), out, SurveyPipeline(offers=offers))
    urls = dict(zip(out.sent[0].fields["reason_urls"], links(out.sent[0].text), strict=True))
    assert "a free month, code COMEBACK" in client.get(urls["too_expensive"]).text
    assert "COMEBACK" not in client.get(urls["unused"]).text


def test_a_post_without_the_pages_own_form_token_is_refused(client, engine, settings):
    url = invitation(engine, settings)["unused"]
    forged = client.post(url, data={"answer": "other", "form_token": "0" * 64})
    assert forged.status_code == 403 and "open the link in the email again" in forged.text
    other_page = client.get(invitation(engine, settings, "bob", "s2")["unused"])
    foreign = client.post(url, data={**form_of(other_page), "answer": "other"})
    assert foreign.status_code == 403
    assert all(r.answer is None for r in responses(engine))


def test_an_answer_that_is_not_one_of_the_surveys_is_asked_again(client, engine, settings):
    url = invitation(engine, settings)["unused"]
    page = client.get(url)
    wrong = client.post(url, data={**form_of(page), "answer": "7", "comment": "kept"})
    assert wrong.status_code == 422 and "Please pick one answer" in wrong.text
    assert "kept</textarea>" in wrong.text
    assert responses(engine)[0].answer is None


def token_for(engine, settings, member, data, expires=None):
    expires = expires or datetime.now(UTC) + timedelta(days=30)
    with engine.begin() as conn:
        return make_token(link_secret(conn, settings), member, "survey", expires, data)


@pytest.mark.parametrize(
    "case", ["tampered", "expired", "another member's", "another survey's", "not a survey link"]
)
def test_bad_links_get_a_friendly_page_and_record_nothing(client, engine, settings, case):
    url = invitation(engine, settings)["unused"]
    token = url.rsplit("/", 1)[1]
    data = {"k": "exit:s1:2026-12-01", "s": "exit", "a": "unused"}
    if case == "tampered":
        token = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    elif case == "expired":
        token = token_for(engine, settings, "ada", data, datetime.now(UTC) - timedelta(hours=1))
    elif case == "another member's":  # ada's signature over another member's id
        bob = token_for(engine, settings, "bob", data)
        token = ".".join([bob.split(".")[0], *token.split(".")[1:]])
    elif case == "another survey's":  # ada's signature over another survey's data
        other = token_for(engine, settings, "ada", {**data, "k": "nps:s1:90d", "s": "nps"})
        token = ".".join([*token.split(".")[:3], other.split(".")[3], token.split(".")[4]])
    else:
        token = token_for(engine, settings, "ada", data).replace(".survey.", ".unsubscribe.")
    for answer in (client.get(f"/survey/{token}"), client.post(f"/survey/{token}", data={})):
        assert 400 <= answer.status_code < 500
        assert "This link" in answer.text and settings.support_email in answer.text
    assert responses(engine) == []
