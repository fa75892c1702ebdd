"""Secrets stay secret and templates stay templates. The ingress and a delivery run, given
known secrets (webhook signing keys and tokens, an SMTP password, an output's signing secret),
leave none of them in any log line, error, artifact or stored row. Templates edited by ops
cannot reach Python: each injection attempt is refused by `memberflow templates lint` with
the file, the line and why."""

import json
import shutil
import signal
import subprocess
import time

import pytest
import requests
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from prefect import get_client
from sqlalchemy import text
from typer.testing import CliRunner

from blocks.outputs.smtp import SmtpOutput
from blocks.outputs.webhook import WebhookOutput
from flows.reminders import reminders
from memberflow.cli import app
from memberflow.core.settings import PROJECT_ROOT, Settings, get_settings
from memberflow.ingress.replay import signed_request
from tests.support.clock import at
from tests.support.databases import TABLES
from tests.support.factories import add_subscription
from tests.support.servers import HttpReceiver, SmtpSink, free_port
from tests.support.trials import MEMBERFLOW, child_environment
from tests.support.webhooks import SECRETS, sample

AS_OF = at("2026-12-01 09:00")
SMTP_PASSWORD = "smtp-pass-Zq81"
OUTPUT_SECRET = "hook-secret-Lw27"
KNOWN = [OUTPUT_SECRET, SMTP_PASSWORD] + [
    part for value in SECRETS.values() for part in value.split(",")
]


def stored_text(engine) -> str:
    """Every row of every table, as text."""
    with engine.connect() as conn:
        return "\n".join(
            repr(tuple(row))
            for table in TABLES.split(", ")
            for row in conn.execute(text(f"SELECT * FROM {table}"))
        )


def leaked(*texts: str) -> list[str]:
    return [secret for secret in KNOWN if any(secret in found for found in texts)]


def test_the_ingress_leaves_no_secret_in_its_logs_or_its_database(database_url, engine):
    port = free_port()
    env = child_environment(database_url, **SECRETS)
    server = subprocess.Popen(
        [MEMBERFLOW, "ingress", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base, answers = f"http://127.0.0.1:{port}", []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"{base}/health", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        config = Settings(**{k.removeprefix("MEMBERFLOW_").lower(): v for k, v in SECRETS.items()})
        sent = [
            ("stripe", sample("stripe", "invoice.payment_failed.basil")),
            ("memberpress", sample("memberpress", "transaction-failed")),
            ("membermouse", sample("membermouse", "mm_payment_rebill_declined")),
            ("memberflow", sample("memberflow", "payment.failed")),
        ]
        for provider, payload in sent:
            path, body, headers = signed_request(provider, json.dumps(payload).encode(), config)
            answers.append(requests.post(base + path, data=body, headers=headers, timeout=10))
            # the same, with the secret wrong: refused, and the refusal names no secret either
            wrong = {k: v + "x" for k, v in headers.items()}
            answers.append(
                requests.post(base + path.replace("token=", "token=x"), data=body, headers=wrong)
            )
        answers.append(
            requests.get(
                f"{base}/webhooks/membermouse?token={SECRETS['MEMBERFLOW_MEMBERMOUSE_TOKEN']}&event_type=x"
            )
        )
    finally:
        server.send_signal(signal.SIGINT)
        log, _ = server.communicate(timeout=30)
    assert [answer.status_code for answer in answers[:8:2]] == [200] * 4, log
    assert [answer.status_code for answer in answers[1:8:2]] == [401] * 4, log
    assert "GET /webhooks/membermouse?token=[hidden]" in log  # the access log was written
    bodies = [answer.text for answer in answers]
    assert leaked(log, *bodies, stored_text(engine)) == []


@pytest.mark.usefixtures("prefect_harness")
def test_a_run_leaves_no_secret_in_its_logs_errors_artifacts_or_rows(settings, engine, caplog):
    for n in range(3):
        add_subscription(engine, f"s{n}", current_period_end=at("2026-12-08 10:00"))

    def refuse(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=False, handled=False)

    smtp = Controller(
        SmtpSink(),
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=refuse,
        auth_require_tls=False,
    )
    smtp.start()
    try:
        SmtpOutput(
            host="127.0.0.1",
            port=smtp.port,
            security="none",
            username="billing",
            password=SMTP_PASSWORD,
            from_address="b@x.org",
        ).save("secrets", overwrite=True)
        refused = reminders(as_of=AS_OF, output="memberflow-smtp-output/secrets", return_state=True)
    finally:
        smtp.stop()
    assert refused.is_failed()
    error = str(refused.result(raise_on_failure=False))
    assert "535" in error or "Authentication" in error, error
    with HttpReceiver() as receiver:
        WebhookOutput(url=receiver.url, secret=OUTPUT_SECRET).save("secrets", overwrite=True)
        rows = reminders(as_of=AS_OF, output="memberflow-webhook-output/secrets")
    assert rows[-1]["sent"] == 3  # its own channel only: the refused emails wait for SMTP
    sent = "\n".join(repr(request) for request in receiver.requests)
    with get_client(sync_client=True) as client:
        artifacts = "\n".join(repr(a.data) + repr(a.description) for a in client.read_artifacts())
        logs = "\n".join(log.message for log in client.read_logs())
    assert leaked(error, caplog.text, artifacts, logs, stored_text(engine), sent) == []


INJECTIONS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ ''|attr('__class__') }}",
    "{{ '{0.__class__}'.format('') }}",
    "{{ range.__self__ }}",
    "{{ config.items() }}",
    "{{ request.application.__globals__ }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{% include '../../../../../etc/passwd' %}",
    "{% import 'os' as os %}{{ os.system('id') }}",
    "{{ first_name.__class__.__init__.__globals__ }}",
]


@pytest.mark.parametrize("attempt", INJECTIONS)
def test_a_template_that_reaches_for_python_is_refused_by_lint(attempt, tmp_path, monkeypatch):
    templates = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", templates)
    body = templates / "reminders" / "renewal" / "en" / "body.txt"
    lines = body.read_text().splitlines()
    line = lines.index("{% block content %}") + 2  # the attempt's line, where ops would write
    lines.insert(line - 1, attempt)
    body.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("MEMBERFLOW_TEMPLATES_DIR", str(templates))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["templates", "lint"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    assert "reminders/renewal/en/body.txt" in result.output
    mine = "reminders/renewal/en/body.txt"
    problem = next(said for said in result.output.splitlines() if mine in said)
    assert f"body.txt:{line}" in problem or "not found" in problem, problem
    assert "uid=" not in result.output and "<class" not in result.output
