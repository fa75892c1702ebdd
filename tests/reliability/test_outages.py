"""Outages: the SMTP server down, the database gone mid-run, the Prefect API gone mid-run, the
disk full under the file output. Each ends the run with a clear error, and from the state it
leaves, the next run completes: every message delivered, none twice but those in flight."""

import shutil
import subprocess
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from prefect.settings import PREFECT_API_URL
from sqlalchemy.engine import make_url

from blocks.outputs.smtp import SmtpOutput
from blocks.outputs.webhook import WebhookOutput
from flows.reminders import reminders
from memberflow.core.settings import get_settings
from tests.support.clock import at
from tests.support.factories import add_subscription
from tests.support.proxy import TcpProxy
from tests.support.servers import HttpReceiver, SmtpSink, free_port
from tests.support.trials import (
    LEASE_SECONDS,
    MEMBERFLOW,
    child_environment,
    received,
    recorded,
    run_reminders,
)

pytestmark = pytest.mark.usefixtures("prefect_harness")
AS_OF = at("2026-12-01 09:00")
MEMBERS = 40


@pytest.fixture
def day(settings, engine, monkeypatch):
    """MEMBERS renewal reminders due at AS_OF, and a short claim lease for the runs."""
    monkeypatch.setenv("MEMBERFLOW_CLAIM_LEASE_SECONDS", str(LEASE_SECONDS))
    get_settings.cache_clear()
    for n in range(MEMBERS):
        add_subscription(engine, f"s{n:03d}", current_period_end=at("2026-12-08 10:00"))
    yield engine
    get_settings.cache_clear()


def when(condition, then) -> threading.Thread:
    """Calls `then()` as soon as `condition()` holds, from a thread of its own."""

    def watch():
        while not condition():
            time.sleep(0.001)
        then()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_smtp_down_fails_the_run_clearly_and_the_next_run_sends_each_mail_once(day, figures):
    port = free_port()
    SmtpOutput(host="127.0.0.1", port=port, security="none", from_address="b@x.org").save(
        "outage", overwrite=True
    )
    state = reminders(as_of=AS_OF, output="memberflow-smtp-output/outage", return_state=True)
    assert state.is_failed()
    error = str(state.result(raise_on_failure=False))
    assert "memberflow-smtp-output/outage" in error and "ConnectionRefusedError" in error
    assert "not tried" in error
    sink = SmtpSink()
    server = Controller(sink, hostname="127.0.0.1", port=port)
    server.start()
    try:
        rows = reminders(as_of=AS_OF, output="memberflow-smtp-output/outage")
    finally:
        server.stop()
    keys = [
        content.split(b"X-Memberflow-Key: ")[1].split(b"\r\n")[0] for *_, content in sink.messages
    ]
    assert rows[-1]["sent"] == MEMBERS and len(set(keys)) == len(keys) == MEMBERS
    assert set(recorded(day).values()) == {"sent"}
    figures.append(
        {
            "test": f"SMTP down, then up ({day.dialect.name})",
            "delivered": len(keys),
            "duplicates": 0,
            "lost": 0,
        }
    )


def test_the_database_gone_mid_run_fails_it_clearly_and_the_next_run_completes(
    day, database_url, monkeypatch, figures
):
    if not database_url.startswith("postgresql"):
        pytest.skip("a server that goes away: SQLite is a file (the ingress tests replace it)")
    with HttpReceiver(latency=0.02) as receiver, TcpProxy(make_url(database_url).port) as proxy:
        WebhookOutput(url=receiver.url, secret="s", max_concurrency=4).save(
            "db-outage", overwrite=True
        )
        proxied = make_url(database_url).set(port=proxy.port).render_as_string(hide_password=False)
        monkeypatch.setenv("MEMBERFLOW_DATABASE_URL", proxied)
        get_settings.cache_clear()
        when(lambda: len(receiver.requests) >= MEMBERS // 3, proxy.cut)
        started = time.monotonic()
        state = reminders(
            as_of=AS_OF,
            output="memberflow-webhook-output/db-outage",
            batch_size=10,
            return_state=True,
        )
        took = time.monotonic() - started
        assert state.is_failed()
        error = str(state.result(raise_on_failure=False))
        assert (
            f"the database at {proxied} (MEMBERFLOW_DATABASE_URL) is unavailable (connection"
            in error
        ), error
        assert "nothing is lost" in error and "then run again" in error
        before = received(receiver.requests)
        proxy.restore()
        rows = reminders(as_of=AS_OF, output="memberflow-webhook-output/db-outage", batch_size=10)
    got = received(receiver.requests)
    assert set(recorded(day).values()) == {"sent"} and len(got) == MEMBERS
    duplicates = {key for key, count in got.items() if count > 1}
    assert duplicates <= set(before) and len(duplicates) <= 4  # at most those in flight
    figures.append(
        {
            "test": "database gone mid-run (postgresql)",
            "failed_after_s": round(took, 1),
            "delivered": len(got),
            "duplicates": len(duplicates),
            "lost": 0,
            "rerun_sent": rows[-1]["sent"],
        }
    )


def test_the_prefect_api_gone_mid_run_ends_it_clearly_and_the_next_run_completes(
    day, database_url, figures
):
    api = make_url(PREFECT_API_URL.value())
    with HttpReceiver(latency=0.02) as receiver, TcpProxy(api.port) as proxy:
        WebhookOutput(url=receiver.url, secret="s", max_concurrency=4).save(
            "api-outage", overwrite=True
        )
        output = "memberflow-webhook-output/api-outage"
        when(lambda: len(receiver.requests) >= MEMBERS // 3, proxy.cut)
        proxied = PREFECT_API_URL.value().replace(f":{api.port}/", f":{proxy.port}/")
        started = time.monotonic()
        cut = run_reminders(
            database_url,
            AS_OF.isoformat(),
            output,
            batch_size=10,
            PREFECT_API_URL=proxied,
            PREFECT_CLIENT_MAX_RETRIES="1",  # the client's 5 tries take minutes
        )
        took = time.monotonic() - started
        assert cut.returncode == 3, cut.output
        assert f"the Prefect API at {proxied} does not answer" in cut.output, cut.output
        assert "Nothing is lost" in cut.output and "then run again" in cut.output
        receiver.settle()  # what the failed run still had on the wire has arrived
        before = received(receiver.requests)
        rerun = run_reminders(database_url, AS_OF.isoformat(), output, batch_size=10)
        assert rerun.returncode == 0, rerun.output
    got = received(receiver.requests)
    assert set(recorded(day).values()) == {"sent"} and len(got) == MEMBERS
    duplicates = {key for key, count in got.items() if count > 1}
    assert duplicates <= set(before) and len(duplicates) <= 4
    figures.append(
        {
            "test": f"Prefect API gone mid-run ({day.dialect.name})",
            "failed_after_s": round(took, 1),
            "delivered": len(got),
            "duplicates": len(duplicates),
            "lost": 0,
            "rerun_sent": rerun.sent,
        }
    )


def test_a_full_disk_stops_the_file_output_clearly_and_the_next_run_completes(
    day, database_url, tmp_path, figures
):
    """A real full disk: a 24 KiB tmpfs mounted over the outbox in a mount namespace of the
    runs' own (`unshare`, so no root is needed), then grown as ops would free space."""
    if (
        not shutil.which("unshare")
        or subprocess.run(
            ["unshare", "-rm", "mount", "-t", "tmpfs", "tmpfs", str(tmp_path)], check=False
        ).returncode
    ):
        pytest.skip("this machine cannot mount a small filesystem in a user namespace")
    outbox, kept = tmp_path / "outbox", tmp_path / "kept"
    outbox.mkdir()
    kept.mkdir()
    run = f"{MEMBERFLOW} run reminders --simulate --as-of {AS_OF.isoformat()}"
    script = f"""
        mount -t tmpfs -o size=24k tmpfs {outbox}
        {run} > {tmp_path}/full.txt 2>&1; echo $? > {tmp_path}/full.rc
        ls {outbox} > {tmp_path}/left.txt
        mount -o remount,size=4m {outbox}
        {run} > {tmp_path}/freed.txt 2>&1; echo $? > {tmp_path}/freed.rc
        cp {outbox}/* {kept}/
    """
    env = child_environment(database_url, MEMBERFLOW_OUTBOX_DIR=str(outbox))
    subprocess.run(["unshare", "-rm", "sh", "-c", script], env=env, check=True, timeout=300)
    full = (tmp_path / "full.txt").read_text()
    assert (tmp_path / "full.rc").read_text().strip() == "3", full
    assert f"cannot write {outbox}/" in full and "No space left on device" in full, full
    written_while_full = (tmp_path / "left.txt").read_text().split()
    assert written_while_full and not [n for n in written_while_full if n.endswith(".tmp")]
    assert (tmp_path / "freed.rc").read_text().strip() == "0", (tmp_path / "freed.txt").read_text()
    assert set(recorded(day).values()) == {"sent"}
    assert len(list(kept.glob("*.eml"))) == MEMBERS and not list(kept.glob("*.tmp"))
    figures.append(
        {
            "test": f"disk full, then freed ({day.dialect.name})",
            "delivered": MEMBERS,
            "written_while_full": len(written_while_full),
            "duplicates": 0,
            "lost": 0,
        }
    )
