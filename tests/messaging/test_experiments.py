"""Experiments, the pure part: who gets which variant, stably, in the configured shares, and
which definitions are refused and why."""

import shutil
import tomllib
from math import sqrt

import pytest
from pydantic import ValidationError

from memberflow.core.settings import PROJECT_ROOT, Settings
from memberflow.messaging import registry
from memberflow.messaging.experiments import (
    CONTROL,
    HOLDOUT,
    ExperimentPlan,
    assignment,
    problems,
)
from memberflow.messaging.rendering import Renderer

MEMBERS = [f"cus_{n:05d}" for n in range(10_000)]


def plan(**overrides) -> ExperimentPlan:
    values = {
        "name": "renewal-test",
        "pipeline": "reminders",
        "step": "renewal_7d",
        "holdout": 0.05,
        "variants": [{"name": "short", "share": 0.475, "subjects": {"en": "Soon"}}],
    }
    return ExperimentPlan.model_validate({**values, **overrides})


def test_a_member_keeps_their_variant_on_every_run_and_machine():
    first = [plan().assign(member) for member in MEMBERS[:500]]
    again = [
        ExperimentPlan.model_validate_json(plan().model_dump_json()).assign(m)
        for m in MEMBERS[:500]
    ]
    assert first == again


@pytest.mark.parametrize(
    ("holdout", "shares"), [(0.05, [0.475]), (0.1, [0.3, 0.3]), (0.5, []), (0.0, [0.5])]
)
def test_shares_over_10000_members_are_close_to_the_configured_ones(holdout, shares):
    variants = [{"name": f"v{i}", "share": share} for i, share in enumerate(shares)]
    experiment = plan(holdout=holdout, variants=variants)
    counts = {}
    for member in MEMBERS:
        name = experiment.assign(member)
        counts[name] = counts.get(name, 0) + 1
    expected = {HOLDOUT: holdout, **{f"v{i}": s for i, s in enumerate(shares)}}
    expected[CONTROL] = 1 - holdout - sum(shares)
    for name, share in expected.items():
        spread = 4 * sqrt(len(MEMBERS) * share * (1 - share))  # 4 standard deviations
        assert abs(counts.get(name, 0) - len(MEMBERS) * share) <= spread, (name, counts)


def test_two_experiments_place_members_independently():
    """The holdout of one test is not the holdout of the next: 5% of 5% are in both."""
    first, second = plan(name="first", holdout=0.2), plan(name="second", holdout=0.2)
    both = sum(first.assign(m) == HOLDOUT and second.assign(m) == HOLDOUT for m in MEMBERS)
    assert abs(both - 400) <= 4 * sqrt(10_000 * 0.04 * 0.96)


def test_an_experiment_applies_to_its_step_and_products_only():
    experiment = plan(products=["gold"])
    assert assignment([experiment], "reminders", "renewal_7d", "gold", "cus_1") is not None
    assert assignment([experiment], "reminders", "renewal_7d", "silver", "cus_1") is None
    assert assignment([experiment], "reminders", "trial_end_3d", "gold", "cus_1") is None
    assert assignment([experiment], "dunning", "renewal_7d", "gold", "cus_1") is None


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"holdout": 0.6, "variants": [{"name": "a", "share": 0.5}]}, "add up to 110%"),
        ({"variants": [{"name": "holdout", "share": 0.5}]}, "reserved"),
        ({"variants": [{"name": "a", "share": 0.2}, {"name": "a", "share": 0.2}]}, "differ"),
        ({"holdout": 0, "variants": []}, "needs a holdout share, variants, or both"),
        ({"holdout": 1}, "less than 1"),
        ({"name": "Has Spaces"}, "pattern"),
    ],
)
def test_a_definition_that_cannot_work_is_refused_with_the_reason(overrides, says):
    with pytest.raises(ValidationError, match=says):
        plan(**overrides)


def test_the_shipped_example_is_a_valid_experiment():
    path = PROJECT_ROOT / "examples" / "experiments" / "renewal-reminder.toml"
    example = ExperimentPlan.model_validate(tomllib.loads(path.read_text()))
    assert example.holdout == 0.05 and example.control_share == pytest.approx(0.475)
    assert _problems(example, PROJECT_ROOT / "templates") == []


def _problems(experiment, templates) -> list[str]:
    settings = Settings(templates_dir=templates)
    renderer = Renderer([templates])
    fields = registry.sample_fields(settings)["reminders/renewal"]
    return problems(experiment, "reminders/renewal", renderer, fields)


def test_variant_templates_and_subjects_are_checked_before_the_experiment_starts(tmp_path):
    templates = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", templates)
    variant = templates / "reminders" / "renewal.warm"
    shutil.copytree(templates / "reminders" / "renewal", variant)
    shutil.rmtree(variant / "de")
    (variant / "fr" / "body.txt").write_text("Bonjour {{ first_nme }}\n")
    experiment = plan(
        variants=[
            {"name": "warm", "share": 0.3, "template": "reminders/renewal.warm"},
            {"name": "elsewhere", "share": 0.1, "template": "reminders/trial_end"},
            {"name": "subject", "share": 0.1, "subjects": {"en": "Hi {{ first_name }"}},
        ]
    )
    found = "\n".join(_problems(experiment, templates))
    assert "'warm': reminders/renewal.warm has no de" in found
    assert "'warm' in 'fr'" in found and "first_nme" in found
    assert "'elsewhere': template 'reminders/trial_end' must be named reminders/renewal." in found
    assert "'subject': subjects lack de, es, fr" in found
    assert "'subject' in 'en'" in found and "variant subject" in found
