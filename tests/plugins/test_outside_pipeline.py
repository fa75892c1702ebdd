"""A pipeline from outside memberflow, pip-installed: `examples/visit_thanks` (docs/extending.md's
"Add a pipeline", whole). It owns a table (its own Alembic branch) and plans on a column of it,
and runs through memberflow's own command line, in processes of their own, into a real HTTP
receiver. No shared file of memberflow names it: adding it edited none.

SQLite only: it migrates a database of its own from empty, as an owner would."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect

from blocks.outputs.webhook import WebhookOutput
from memberflow.core import db as database
from memberflow.core.settings import PROJECT_ROOT
from tests.support.clock import at
from tests.support.factories import add_subscription
from tests.support.servers import HttpReceiver

PACKAGE = PROJECT_ROOT / "examples" / "visit_thanks"
MEMBERFLOW = Path(sys.executable).parent / "memberflow"
# what adding a pipeline may not touch: the engine, the shared flows, tasks, blocks, templates,
# migrations and the project's own configuration
SHARED = ["memberflow", "flows", "tasks", "blocks", "templates", "migrations"]
SHARED_FILES = ["pyproject.toml", "prefect.yaml", "alembic.ini", "Makefile"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The package built and installed by pip into a folder of its own (offline: setuptools
    from the test extras), as `pip install ./examples/visit_thanks` would."""
    site, source = tmp_path_factory.mktemp("site"), tmp_path_factory.mktemp("src") / "pkg"
    shutil.copytree(PACKAGE, source)  # a build writes beside its source: not in the checkout
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        + ["--no-deps", "--no-build-isolation", "--target", str(site), str(source)],
        check=True,
        capture_output=True,
    )
    return site


@pytest.fixture
def memberflow(installed, tmp_path):
    """`memberflow ...` in a process of its own that has the package installed, against a new
    SQLite database, and the session's Prefect server."""
    from prefect.settings import PREFECT_API_URL

    url = f"sqlite:///{tmp_path / 'club.db'}"
    env = {
        **os.environ,
        "PYTHONPATH": str(installed),
        "MEMBERFLOW_DATABASE_URL": url,
        "MEMBERFLOW_OUTBOX_DIR": str(tmp_path / "outbox"),
        "PREFECT_API_URL": PREFECT_API_URL.value(),
    }

    def run(*args: str, expect: int = 0) -> str:
        done = subprocess.run(
            [str(MEMBERFLOW), *args], env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == expect, done.stdout + done.stderr
        return done.stdout + done.stderr

    run.url = url
    return run


def test_the_package_installs_with_its_templates_and_migration(installed):
    package = installed / "visit_thanks"
    assert (package / "migrations" / "visits_0001_visit.py").exists()
    assert len(list((package / "templates" / "visits" / "thanks").glob("*/body.html"))) == 4
    [info] = installed.glob("memberflow_visit_thanks-*.dist-info")
    assert "visits = visit_thanks:registration" in (info / "entry_points.txt").read_text()


@pytest.mark.usefixtures("prefect_harness")
def test_an_outside_pipeline_owns_a_table_and_runs_through_the_cli_into_a_receiver(memberflow):
    assert "is up to date" in memberflow("db", "upgrade")  # memberflow's history and its branch
    engine = database.get_engine(memberflow.url)
    assert "visit" in inspect(engine).get_table_names()
    add_subscription(engine, "s1", current_period_end=at("2026-12-20 10:00"), first_name="Ada")
    add_subscription(engine, "s2", current_period_end=at("2026-12-20 10:00"), status="canceled")
    add_subscription(engine, "s3", current_period_end=at("2026-12-20 10:00"))

    assert "visits: A thank-you the day after a member visits." in memberflow("pipelines")
    memberflow("templates", "lint")
    memberflow("visits", "record", "s1", "--at", "2026-11-30T18:00:00")
    memberflow("visits", "record", "s1", "--at", "2026-11-30T09:00:00")  # older news: kept later
    memberflow("visits", "record", "s2", "--at", "2026-11-30T18:00:00")  # canceled since
    memberflow("visits", "record", "s3", "--at", "2026-12-01T18:00:00")  # not due yet
    said = memberflow("visits", "record", "nope", expect=1)
    assert "no subscription 'nope'" in said and "Traceback" not in said

    with HttpReceiver() as receiver:
        WebhookOutput(url=f"{receiver.url}/hook", secret="s").save("visits", overwrite=True)
        run = ["run", "visits", "--simulate", "--as-of", "2026-12-01T19:00:00Z"]
        memberflow(*run, "--output", "memberflow-webhook-output/visits")
        memberflow(*run, "--output", "memberflow-webhook-output/visits")
    [request] = receiver.requests  # exactly once, though it ran twice: s1, a day after
    body = request.json()
    assert (body["pipeline"], body["step"], body["subject"]) == (
        "visits",
        "thanks_1d",
        "Thanks for coming in, Ada",
    )
    assert "Thank you for visiting us yesterday." in body["html"]


def test_adding_it_edited_no_shared_file():
    """The whole pipeline is its package: no shared file names it (its name, module or table)."""
    # its package, its command group, its table and its planning column, as code names them
    # (not English: the cancel page's own `cancel_visit` table and "visits" are another thing)
    names = re.compile(r"\bvisit_thanks\b|[\"']visits?[\"']|\bvisited_at\b")
    offenders = [
        str(path.relative_to(PROJECT_ROOT))
        for folder in SHARED
        for path in (PROJECT_ROOT / folder).rglob("*")
        if path.is_file()
        and path.suffix in {".py", ".toml", ".yaml", ".txt", ".html", ".j2"}
        and names.search(path.read_text(errors="ignore"))
    ]
    offenders += [name for name in SHARED_FILES if names.search((PROJECT_ROOT / name).read_text())]
    assert offenders == []
