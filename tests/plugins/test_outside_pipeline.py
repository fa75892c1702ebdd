"""A pipeline from outside the memberflow package, registered through the entry point group at
test time, runs end to end through the CLI and its own flow into a real HTTP receiver. No shared
file of memberflow is edited: this is docs/extending.md's "add a pipeline"."""

import textwrap

import pytest
from typer.testing import CliRunner

from blocks.outputs.webhook import WebhookOutput
from tests.support.clock import at
from tests.support.factories import add_subscription
from tests.support.servers import HttpReceiver

TOY = """
from dataclasses import dataclass
from datetime import datetime, timedelta

from pathlib import Path

from prefect import flow

from memberflow.core.settings import get_settings
from memberflow.plugin import (
    Registration,
    Selection,
    StepInfo,
    member_recipient,
    run_pipeline,
    window_start,
)


@dataclass(frozen=True)
class Thanks:
    name: str = "thanks_1d"
    lateness: timedelta = timedelta(hours=24)
    template_name: str = "toy/thanks"


@dataclass
class ThanksPipeline:
    name: str = "toy"

    def selections(self, as_of, since):
        low = window_start(Thanks(), as_of, since) + timedelta(days=1) - timedelta(hours=2)
        return [(Thanks(), Selection("current_period_end", low, as_of + timedelta(days=2)))]

    def anchor_for(self, step, row):
        return row.current_period_end if row.status == "active" else None

    def due(self, step, anchor, tz):
        return anchor - timedelta(days=1)

    def step_for(self, row):
        return Thanks() if row.step == "thanks_1d" else None

    def skip_reason(self, step, row):
        return None if row.status == "active" else "no longer active"

    def fields(self, step, row, settings):
        return {"first_name": row.first_name, "product_name": row.product_name}

    def recipient(self, row, fields):
        return member_recipient(row)


@flow(name="toy-thanks")
def toy(as_of: datetime | None = None, output: str = "", batch_size: int = 500) -> list[dict]:
    return run_pipeline(
        ThanksPipeline(), settings=get_settings(), as_of=as_of, output=output, batch_size=batch_size
    )


registration = Registration(
    name="toy",
    templates=Path(__file__).parent / "templates",
    summary="A thank-you the day before each renewal.",
    flow="toy_pipeline:toy",
    messages=lambda: [ThanksPipeline()],
    steps=lambda: [StepInfo("thanks_1d", "1 day before renewal", "member", "toy/thanks")],
    sample_fields=lambda settings: {"toy/thanks": {"first_name": "Ada", "product_name": "Club"}},
)
"""


@pytest.fixture
def toy_installed(tmp_path, monkeypatch):
    """The toy pipeline as an installed distribution: a module and its entry point."""
    site = tmp_path / "site"
    (site / "toy_pipeline").mkdir(parents=True)
    (site / "toy_pipeline" / "__init__.py").write_text(textwrap.dedent(TOY))
    info = site / "toy_pipeline-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-pipeline\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[memberflow.pipelines]\ntoy = toy_pipeline:registration\n"
    )
    monkeypatch.syspath_prepend(str(site))
    # the package ships its own templates beside its code, extending memberflow's layout
    folder = site / "toy_pipeline" / "templates" / "toy" / "thanks" / "en"
    folder.mkdir(parents=True)
    (folder / "subject.txt").write_text("Thank you, {{ first_name }}")
    (folder / "body.txt").write_text("{{ product_name }} renews tomorrow. Thanks!\n")
    layout = '{% extends "_layouts/email.html" %}{% block content %}<p>{{ product_name }} '
    (folder / "body.html").write_text(layout + "renews tomorrow.</p>{% endblock %}\n")


@pytest.mark.usefixtures("prefect_harness")
def test_an_outside_pipeline_runs_through_the_cli_into_a_receiver(settings, engine, toy_installed):
    from memberflow.cli import app

    add_subscription(engine, "s1", current_period_end=at("2026-12-02 10:00"), first_name="Ada")
    runner = CliRunner()
    listed = runner.invoke(app, ["pipelines"], catch_exceptions=False)
    assert "toy: A thank-you the day before each renewal." in listed.output
    lint = runner.invoke(app, ["templates", "lint"], catch_exceptions=False)
    assert lint.exit_code == 0, lint.output
    with HttpReceiver() as receiver:
        WebhookOutput(url=f"{receiver.url}/hook", secret="s").save("toy", overwrite=True)
        args = ["run", "toy", "--simulate", "--as-of", "2026-12-01T10:30:00Z"]
        result = runner.invoke(app, [*args, "--output", "memberflow-webhook-output/toy"])
        again = runner.invoke(app, [*args, "--output", "memberflow-webhook-output/toy"])
    assert result.exit_code == 0, result.output
    assert again.exit_code == 0, again.output
    [request] = receiver.requests  # exactly once, though it ran twice
    body = request.json()
    assert "renews tomorrow." in body["html"] and "<html" in body["html"].lower()
    assert (body["pipeline"], body["step"], body["subject"]) == (
        "toy",
        "thanks_1d",
        "Thank you, Ada",
    )
