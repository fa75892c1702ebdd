"""Survey results on a hand-built set, each figure computed by hand below."""

from collections import Counter

from memberflow.core.feedback import provider_answer
from memberflow.pipelines.surveys.results import (
    Response,
    latest_comments,
    nps,
    reasons,
    response_rates,
    tenure_band,
)
from tests.support.clock import at


def answer(survey, product, value, source="page", comment=None, day=1, tenure=100):
    return Response(survey, product, value, comment, source, at(f"2026-12-{day:02d} 12:00"), tenure)


RESPONSES = [
    # exit: 4 invited on the page, 3 answered there (one only opened), 1 told Stripe
    answer("exit", "monthly", "too_expensive", comment="Too dear for me now", day=2, tenure=40),
    answer("exit", "monthly", "too_expensive", day=3, tenure=200),
    answer("exit", "annual", "unused", day=4, tenure=800),
    Response("exit", "monthly", None, None, "page", None, 100),  # opened, never answered
    answer("exit", "annual", "switched_service", source="provider", day=5, tenure=None),
    # nps: monthly 10, 9, 7, 3; annual 6, 10
    answer("nps", "monthly", "10", comment="Love the workshops", day=6),
    answer("nps", "monthly", "9"),
    answer("nps", "monthly", "7"),
    answer("nps", "monthly", "3"),
    answer("nps", "annual", "6"),
    answer("nps", "annual", "10"),
]


def test_response_rate_counts_page_answers_against_invitations():
    rows = response_rates(Counter(exit=4, nps=8), RESPONSES)
    assert rows == [
        # 3 of 4 exit invitations answered = 75%; the provider's answer is counted apart
        {
            "survey": "exit",
            "invited": 4,
            "opened": 4,
            "answered": 3,
            "response_rate": "75%",
            "answered_elsewhere": 1,
        },
        # 6 of 8 = 75%
        {
            "survey": "nps",
            "invited": 8,
            "opened": 6,
            "answered": 6,
            "response_rate": "75%",
            "answered_elsewhere": 0,
        },
    ]


def test_nps_is_promoters_minus_detractors_in_percent():
    # monthly: promoters 10, 9 (2); passive 7 (1); detractor 3 (1): (2 - 1) / 4 = 25
    # annual: promoter 10 (1); detractor 6 (1): 0
    # all: promoters 3, passives 1, detractors 2 of 6: (3 - 2) / 6 = 16.7 -> 17
    assert nps(RESPONSES) == [
        {
            "product": "annual",
            "answers": 2,
            "promoters": 1,
            "passives": 0,
            "detractors": 1,
            "nps": 0,
        },
        {
            "product": "monthly",
            "answers": 4,
            "promoters": 2,
            "passives": 1,
            "detractors": 1,
            "nps": 25,
        },
        {
            "product": "all products",
            "answers": 6,
            "promoters": 3,
            "passives": 1,
            "detractors": 2,
            "nps": 17,
        },
    ]


def test_exit_reasons_by_product_and_by_tenure_band():
    assert reasons(RESPONSES, "product") == [
        {"product": "annual", "reason": "switched_service", "answers": 1},
        {"product": "annual", "reason": "unused", "answers": 1},
        {"product": "monthly", "reason": "too_expensive", "answers": 2},
    ]
    by_tenure = {(r["tenure"], r["reason"]): r["answers"] for r in reasons(RESPONSES, "tenure")}
    assert by_tenure == {
        ("under 3 months", "too_expensive"): 1,
        ("3 to 12 months", "too_expensive"): 1,
        ("2 years or more", "unused"): 1,
        ("unknown", "switched_service"): 1,
    }
    assert [tenure_band(d) for d in (0, 89, 90, 364, 365, 729, 730)] == [
        "under 3 months",
        "under 3 months",
        "3 to 12 months",
        "3 to 12 months",
        "1 to 2 years",
        "1 to 2 years",
        "2 years or more",
    ]


def test_the_latest_comments_come_first():
    assert [c["comment"] for c in latest_comments(RESPONSES)] == [
        "Love the workshops",
        "Too dear for me now",
    ]


def test_stripes_eight_feedback_values_map_onto_the_reasons():
    values = [
        "customer_service",
        "low_quality",
        "missing_features",
        "other",
        "switched_service",
        "too_complex",
        "too_expensive",
        "unused",
    ]
    assert {provider_answer(v, None) for v in values} == {
        "customer_service",
        "technical_issues",
        "missing_features",
        "other",
        "switched_service",
        "too_complex",
        "too_expensive",
        "unused",
    }
    assert provider_answer(None, "a comment only") == "other"
    assert provider_answer(None, None) is None


def test_every_table_has_the_columns_its_empty_csv_header_names():
    from memberflow.pipelines.surveys.results import COLUMNS, report

    tables = report(Counter(exit=4, nps=8), RESPONSES)
    assert set(tables) == set(COLUMNS)
    for title, rows in tables.items():
        assert rows and all(list(row) == COLUMNS[title] for row in rows), title


def test_surveys_results_as_csv_with_no_answers_prints_every_header(settings, engine):
    from typer.testing import CliRunner

    from memberflow.cli import app

    result = CliRunner().invoke(app, ["surveys", "results", "--format", "csv"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:2] == [
        "# responses",
        "survey,invited,opened,answered,response_rate,answered_elsewhere",
    ]
    assert "# nps" in lines and "product,answers,promoters,passives,detractors,nps" in lines
