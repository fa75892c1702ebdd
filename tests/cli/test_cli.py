"""The command line as an operator uses it, in-process with Typer's runner."""

import json
import os

import pytest
from typer.testing import CliRunner

from memberflow.cli import app
from memberflow.cli.demo_business import demo_rows, write_csv
from tests.support.browser import CHROMIUM
from tests.support.clock import at
from tests.support.member_files import GOOD, write

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_db_upgrade_creates_the_schema(tmp_path, monkeypatch):
    from memberflow.core.settings import get_settings

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("MEMBERFLOW_DATABASE_URL", url)
    get_settings.cache_clear()
    result = invoke("db", "upgrade")
    assert result.exit_code == 0 and "is up to date" in result.output
    assert invoke("db", "upgrade").exit_code == 0  # twice is fine
    get_settings.cache_clear()


def test_import_reports_bad_rows_and_exits_non_zero(settings, tmp_path):
    dry = invoke("import", str(write(tmp_path, *GOOD)), "--dry-run")
    assert dry.exit_code == 0 and "(dry run: nothing written)" in dry.output
    assert "members: would create 2" in dry.output and "new product: euro (Europe)" in dry.output
    good = invoke("import", str(write(tmp_path, *GOOD)))
    assert good.exit_code == 0 and "3 row(s)" in good.output and "(imported)" in good.output
    bad = invoke("import", str(write(tmp_path, GOOD[0], GOOD[1].replace("EUR", "EURO"))))
    assert bad.exit_code == 1
    assert "line 3: currency: is not an ISO 4217 currency code" in bad.output
    assert "nothing was imported" in bad.output


def test_the_demo_population_imports_cleanly(settings, tmp_path):
    rows = demo_rows(at("2026-11-22 09:00"), members=300)
    assert {row["locale"] for row in rows} == {"en", "fr", "es", "de"}
    assert len({row["time_zone"] for row in rows}) >= 5
    assert {row["currency"] for row in rows} == {"USD", "EUR"}
    result = invoke("import", str(write_csv(tmp_path / "demo.csv", rows)))
    assert result.exit_code == 0, result.output


@pytest.mark.usefixtures("prefect_harness")
def test_run_reminders_then_list_touchpoints(settings, tmp_path):
    invoke("import", str(write(tmp_path, *GOOD)))
    dry = invoke("run", "reminders", "--as-of", "2026-12-01T15:00:00Z", "--dry-run")
    assert dry.exit_code == 0 and "would_send" in dry.output
    assert json.loads(invoke("touchpoints", "--format", "jsonl").output or "null") is None

    run = invoke("run", "reminders", "--simulate", "--as-of", "2026-12-01T15:00:00Z")
    assert run.exit_code == 0 and "renewal_7d" in run.output

    listed = invoke("touchpoints", "--format", "jsonl", "--status", "sent")
    [record] = [json.loads(line) for line in listed.output.splitlines()]
    assert record == {
        "key": "reminders:renewal_7d:s1:2026-12-08:email",
        "pipeline": "reminders",
        "step": "renewal_7d",
        "member": "m1",
        "subscription": "s1",
        "channel": "email",
        "due_at": "2026-12-01T14:00:00+00:00",
        "status": "sent",
        "attempts": 1,
        "next_attempt_at": None,
        "sent_at": record["sent_at"],
        "error": None,
    }
    table = invoke("touchpoints")
    assert "reminders:renewal_7d:s1:2026-12-08:email" in table.output


def test_the_demo_never_wipes_a_configured_database(settings):
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 1
    assert "the demo resets only its own database" in result.output


def test_a_bad_as_of_is_explained():
    result = runner.invoke(app, ["run", "reminders", "--as-of", "next tuesday"])
    assert (
        result.exit_code == 1 and "is not a date or time: write it as 2026-12-01" in result.output
    )


def test_templates_lint_and_preview(settings, tmp_path):
    assert invoke("templates", "lint").exit_code == 0
    sample = invoke("templates", "preview", "reminders/renewal")
    assert "Subject: Your Monthly Club membership renews" in sample.output
    french = invoke("templates", "preview", "reminders/renewal", "--locale", "fr")
    assert "décembre 2026" in french.output and "December" not in french.output
    assert "19,99" in french.output and "$19.99" not in french.output  # French throughout
    invoke("import", str(write(tmp_path, *GOOD)))
    french = invoke("templates", "preview", "reminders/trial_end", "--member", "m2")
    assert "Votre essai Europe se termine le 8 décembre 2026" in french.output
    # a French member previewed in German: German dates and amounts, as a real send would be
    german = invoke(
        "templates", "preview", "reminders/trial_end", "--member", "m2", "--locale", "de"
    )
    text = german.output.split("--- html ---")[0]
    assert "8. Dezember 2026" in text and "décembre" not in text and "15,00\u00a0€" in text
    english = invoke(
        "templates", "preview", "reminders/renewal", "--member", "m2", "--locale", "en"
    )
    assert "December 8, 2026" in english.output and "€15.00" in english.output
    unknown = runner.invoke(app, ["templates", "preview", "reminders/nope"])
    assert unknown.exit_code == 1 and "reminders/card_expiry, " in unknown.output
    assert "dunning/first_notice" in unknown.output
    dunning = invoke("templates", "preview", "dunning/first_notice")
    assert "Subject: Your Monthly Club payment didn't go through" in dunning.output


def test_a_preview_screenshot_shows_ops_the_email_as_a_phone_does(settings, tmp_path):
    if not CHROMIUM:
        why = "needs Debian's chromium (apt-get; .ci/run installs it)"
        if os.environ.get("MEMBERFLOW_REQUIRE_BROWSER"):
            pytest.fail(why)
        pytest.skip(why)
    picture = tmp_path / "shots" / "nps-es.png"
    args = ["surveys/nps", "--locale", "es", "--width", "320", "--screenshot", str(picture)]
    result = invoke("templates", "preview", *args)
    assert f"screenshot at 320 px: {picture}" in result.output
    png = picture.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(png[16:20], "big") == 320  # the IHDR width: as wide as a phone


def test_ingress_replay_inbox_and_reapply_against_a_running_ingress(settings, monkeypatch):
    from memberflow.core.settings import get_settings
    from memberflow.ingress.app import create_app
    from tests.support.servers import AppServer
    from tests.support.webhooks import DATA, SECRETS

    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    with AppServer(create_app(get_settings())) as ingress:
        sub = invoke(
            "ingress",
            "replay",
            str(DATA / "stripe" / "customer.subscription.created.json"),
            "--provider",
            "stripe",
            "--url",
            ingress.url,
        )
        assert sub.exit_code == 0 and '"status":"unmatched"' in sub.output
        customer = invoke(
            "ingress",
            "replay",
            str(DATA / "stripe" / "customer.created.json"),
            "--provider",
            "stripe",
            "--url",
            ingress.url,
        )
        assert '"status":"applied"' in customer.output
    waiting = invoke("ingress", "inbox", "--status", "unmatched")
    assert "customer.subscription.created" in waiting.output and "cus_Ada001" in waiting.output
    reapplied = invoke("ingress", "reapply")
    assert "applied" in reapplied.output and "reapplied 1 webhook(s)" in reapplied.output
    assert "(none)" in invoke("ingress", "inbox", "--status", "unmatched").output


def test_ingress_replay_explains_a_missing_secret_and_a_dead_ingress(settings, tmp_path):
    payload = tmp_path / "event.json"
    payload.write_text("{}")
    result = runner.invoke(app, ["ingress", "replay", str(payload), "--provider", "stripe"])
    assert result.exit_code == 1 and "MEMBERFLOW_STRIPE_WEBHOOK_SECRET" in result.output


def test_cases_are_listed_and_resume_needs_to_be_told_which(settings, engine):
    from memberflow.pipelines.dunning import queries as cases
    from memberflow.pipelines.dunning.policy import DunningPolicy
    from tests.support.dunning import failed_renewal

    failed_renewal(
        engine, "cli", card="0069", decline="expired_card", failed_at=at("2026-12-01 09:00")
    )
    cases.open_cases(engine, as_of=at("2026-12-01 10:00"), policy=DunningPolicy())
    listed = invoke("cases", "--status", "open")
    assert "in_cli" in listed.output and "needs_member" in listed.output
    refused = runner.invoke(app, ["cases", "resume"])
    assert refused.exit_code == 1 and "--all" in refused.output
    assert "0 case(s) resumed" in invoke("cases", "resume", "--all").output


def test_experiments_start_list_stop_and_results(settings, tmp_path):
    example = os.path.join("examples", "experiments", "renewal-reminder.toml")
    started = invoke("experiments", "start", example)
    assert started.exit_code == 0, started.output
    assert "experiment renewal-7d-2027q1 started on reminders/renewal_7d" in started.output
    listed = invoke("experiments", "list")
    assert "renewal-7d-2027q1" in listed.output
    assert "holdout 5%, short-subject 47.5%, control 47.5%" in listed.output
    again = invoke("experiments", "start", example)
    assert again.exit_code == 1 and "give this one another name" in again.output
    shown = invoke("experiments", "results", "renewal-7d-2027q1")
    assert shown.exit_code == 0 and "no data yet (0 messages, 0 in holdout)" in shown.output
    assert invoke("experiments", "stop", "renewal-7d-2027q1").exit_code == 0
    assert invoke("experiments", "stop", "renewal-7d-2027q1").exit_code == 1


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"name": "x", "pipeline": "reminders", "step": "renewal_7d"', "is not valid JSON"),
        (
            '{"name": "x", "pipeline": "reminders", "step": "renewal_7d", "holdout": 1.5}',
            "holdout: Input should be less than 1",
        ),
        ('{"name": "x", "pipeline": "remindrs", "step": "renewal_7d", "holdout": 0.1}', "known:"),
        ('{"name": "x", "pipeline": "reminders", "step": "renewal", "holdout": 0.1}', "its steps"),
        (
            '{"name": "x", "pipeline": "reminders", "step": "renewal_7d", "variants": '
            '[{"name": "a", "share": 0.5, "subjects": {"en": "{{ oops"}}]}',
            "subjects lack de, es, fr",
        ),
    ],
)
def test_experiments_start_refuses_a_broken_definition_and_says_why(settings, tmp_path, text, says):
    path = tmp_path / "experiment.json"
    path.write_text(text)
    result = invoke("experiments", "start", str(path))
    assert result.exit_code == 1 and says in result.output, result.output
    assert "experiment.json" in result.output


def test_forecast_lists_the_days_ahead_and_what_is_at_stake(settings, tmp_path):
    assert invoke("import", str(write(tmp_path, *GOOD))).exit_code == 0
    shown = invoke("forecast", "--days", "30", "--from", "2026-11-20T00:00:00Z")
    assert shown.exit_code == 0, shown.output
    assert "The next 30 days from 2026-11-20 00:00 UTC:" in shown.output
    assert "At stake:" in shown.output
    as_json = json.loads(
        invoke("forecast", "--from", "2026-11-20T00:00:00Z", "--format", "json").output
    )
    assert as_json["days"] == 30 and {"messages", "at_stake"} <= set(as_json)
    unknown = invoke("forecast", "--pipeline", "remindrs")
    assert unknown.exit_code == 1 and "known: reminders" in unknown.output


def test_run_for_a_moment_ahead_of_the_clock_is_refused_at_once(settings):
    result = runner.invoke(app, ["run", "reminders", "--as-of", "2099-12-01T09:00:00Z"])
    assert result.exit_code == 1
    assert "ahead of the clock" in result.output and "--simulate" in result.output


@pytest.fixture
def command_line(monkeypatch, capsys):
    """`memberflow ARGS` as the installed command runs it (its entry point, `main`), in-process:
    the exit code and what it said on stderr."""
    from memberflow.cli import main
    from memberflow.core.settings import get_settings

    def run(*args, database_url=None):
        if database_url is not None:
            monkeypatch.setenv("MEMBERFLOW_DATABASE_URL", database_url)
        get_settings.cache_clear()
        monkeypatch.setattr("sys.argv", ["memberflow", *args])
        with pytest.raises(SystemExit) as exited:
            main()
        get_settings.cache_clear()
        return exited.value.code, capsys.readouterr().err

    return run


@pytest.mark.parametrize(
    "url, said",
    [
        (
            "",
            "MEMBERFLOW_DATABASE_URL is empty: set it to sqlite:///./memberflow.db, or postgresql",
        ),
        ("=memberflow.db", "MEMBERFLOW_DATABASE_URL='=memberflow.db' is not a database URL"),
        ("mysql+nosuchdriver://x@127.0.0.1/db", "is not a database URL memberflow can use"),
        (
            "postgresql+psycopg://postgres@127.0.0.1:9/test",
            "(MEMBERFLOW_DATABASE_URL) does not answer",
        ),
    ],
)
def test_a_bad_database_setting_is_one_line_naming_it(command_line, url, said):
    code, err = command_line("touchpoints", database_url=url)
    assert code == 1 and said in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_command_in_a_folder_without_a_database_leaves_nothing_behind(
    command_line, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MEMBERFLOW_DATABASE_URL", raising=False)
    for args in (["touchpoints"], ["run", "reminders"], ["report"]):
        code, err = command_line(*args)
        assert code == 1 and "there is no database at" in err and "memberflow db upgrade" in err
    assert list(tmp_path.iterdir()) == []


def test_a_bad_date_says_the_format_with_an_example(settings):
    result = runner.invoke(app, ["report", "--from", "1st of December"])
    assert result.exit_code == 1
    assert "--from '1st of December' is not a date or time: write it as 2026-12-01" in result.output


def test_commands_that_run_no_flow_never_import_prefect(settings, tmp_path):
    """Prefect costs seconds at start-up; a command that starts no flow must not pay it
    (docs/operations.md gives the measured start-up times)."""
    import subprocess
    import sys

    commands = [
        ["--help"],
        ["pipelines"],
        ["touchpoints"],
        ["report"],
        ["forecast"],
        ["templates", "lint"],
        ["import", "--dry-run", str(write(tmp_path, *GOOD))],
        ["run", "reminders", "--as-of", "2099-01-01"],  # refused before any flow is loaded
    ]
    script = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from memberflow.cli import app\n"
        f"codes = [CliRunner().invoke(app, args).exit_code for args in {commands!r}]\n"
        "print(json.dumps([codes, sorted(m for m in sys.modules if m.split('.')[0] == 'prefect')]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    codes, prefect_modules = json.loads(done.stdout.strip().splitlines()[-1])
    assert codes == [0, 0, 0, 0, 0, 0, 0, 1], done.stderr
    assert prefect_modules == []
