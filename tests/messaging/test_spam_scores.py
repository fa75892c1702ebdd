"""Every member email in every language, as the SMTP output would send it, scored by
SpamAssassin (Debian's package; local rules only, no network tests): each under 2.0.
The scores go to test-artifacts/spam-scores.txt for the docs."""

import mailbox
import os
import re
import shutil
import statistics
import subprocess
from pathlib import Path

import pytest

from memberflow.core.locales import SUPPORTED
from memberflow.core.settings import PROJECT_ROOT, Settings
from memberflow.messaging import registry
from memberflow.messaging.mail import build_email
from memberflow.messaging.messages import Message
from memberflow.messaging.rendering import Renderer

SPAMASSASSIN = shutil.which("spamassassin")
LIMIT = 2.0
SETTINGS = Settings(from_address="billing@example.com", public_url="https://club.example.com")


def every_member_email() -> dict[str, bytes]:
    renderer = Renderer(registry.template_folders(SETTINGS))
    emails = {}
    for locale in SUPPORTED:
        samples = registry.sample_fields(SETTINGS, locale)
        for name in registry.member_templates():
            fields = samples[name]
            rendered = renderer.render(name, locale, fields)
            message = Message(
                key=f"{name}:sub_1001:2026-12-01:email",
                pipeline=name.split("/")[0],
                step=name.split("/")[1],
                to_email="ada@example.com",
                to_name="Ada Lovelace",
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                fields=fields,
                unsubscribe_url=fields.get("unsubscribe_url"),
                locale=locale,
            )
            mail = build_email(message, SETTINGS.from_address)
            emails[f"{name} ({locale})"] = mail.as_bytes()
    return emails


def scores(emails: dict[str, bytes], folder: Path) -> dict[str, tuple[float, str]]:
    """One SpamAssassin process over an mbox of them all (about a second, not one per mail)."""
    box = mailbox.mbox(folder / "in.mbox")
    for raw in emails.values():
        box.add(raw)
    box.flush()
    scored = subprocess.run(
        [SPAMASSASSIN, "--local", "--mbox", "-x"],
        stdin=open(folder / "in.mbox", "rb"),
        capture_output=True,
        check=True,
        timeout=300,
        env={**os.environ, "HOME": str(folder)},  # its user prefs, never the user's own
    ).stdout
    (folder / "out.mbox").write_bytes(scored)
    results = {}
    for name, mail in zip(emails, mailbox.mbox(folder / "out.mbox"), strict=True):
        status = re.sub(r",\s+", ",", " ".join(mail["X-Spam-Status"].split()))
        score = float(re.search(r"score=(-?[\d.]+)", status).group(1))
        results[name] = (score, re.search(r"tests=(\S*)", status).group(1))
    return results


def test_every_member_email_scores_under_two(tmp_path):
    if SPAMASSASSIN is None:
        why = "needs Debian's spamassassin (apt-get; .ci/run installs it)"
        if os.environ.get("MEMBERFLOW_REQUIRE_SPAMASSASSIN"):
            pytest.fail(why)
        pytest.skip(why)
    results = scores(every_member_email(), tmp_path)
    assert len(results) == len(registry.member_templates()) * len(SUPPORTED)
    values = sorted(score for score, _ in results.values())
    report = PROJECT_ROOT / "test-artifacts" / "spam-scores.txt"
    report.parent.mkdir(exist_ok=True)
    report.write_text(
        f"{len(values)} emails; worst {values[-1]:.1f}, median {statistics.median(values):.1f}\n"
        + "".join(f"{score:5.1f}  {name}  {tests}\n" for name, (score, tests) in results.items())
    )
    too_high = {name: hit for name, hit in results.items() if hit[0] >= LIMIT}
    assert too_high == {}, f"SpamAssassin {LIMIT}+ (see {report})"
