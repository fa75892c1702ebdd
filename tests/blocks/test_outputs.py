"""Every built-in output against the real thing: SMTP, HTTP, a script, files."""

import base64
import email
import json
import sys
from email import policy

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from blocks.outputs.file import FileOutput
from blocks.outputs.script import ScriptOutput
from blocks.outputs.smtp import SmtpOutput
from blocks.outputs.webhook import WebhookOutput
from blocks.outputs.zapier import ZapierOutput
from memberflow.core.signing import verify
from memberflow.messaging import http
from memberflow.messaging.messages import DeliveryError
from tests.support.outputs import message
from tests.support.servers import HttpReceiver, Reply, SmtpSink, free_port, smtp_server


@pytest.fixture
def no_sleep(monkeypatch) -> list[float]:
    """Records retry sleeps instead of sleeping; jitter pinned to zero."""
    sleeps: list[float] = []
    monkeypatch.setattr(http, "_sleep", sleeps.append)
    monkeypatch.setattr(http.random, "uniform", lambda low, high: 0.0)
    return sleeps


# -- SMTP ------------------------------------------------------------------------------------


@pytest.fixture
def smtp():
    sink = SmtpSink(reject_rcpt="refused@example.com")
    controller = smtp_server(sink)
    yield sink, controller
    controller.stop()


def test_smtp_sends_multipart_text_and_html_over_one_connection(smtp):
    sink, controller = smtp
    output = SmtpOutput(
        host="127.0.0.1",
        port=controller.port,
        security="none",
        from_address="billing@club.example",
        from_name="Makers Club",
    )
    receipts = [output.send(message(n)) for n in range(3)]
    output.close()

    assert sink.sessions == 1 and len(sink.messages) == 3
    mail_from, rcpt_tos, raw = sink.messages[0]
    assert (mail_from, rcpt_tos) == ("billing@club.example", ["member0@example.com"])
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["Subject"] == "Your membership renews on December 8, 2026"
    assert parsed["From"] == "Makers Club <billing@club.example>"
    assert parsed["X-Memberflow-Key"] == "reminders:renewal_7d:sub_0:2026-12-08:email"
    assert parsed["Message-ID"].endswith("@club.example>")
    assert parsed["Message-ID"] in receipts[0].detail
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert "plain text body" in text and "<p>html body</p>" in html


def dkim_key() -> tuple[str, bytes]:
    """A fresh RSA key: its PEM, and the DNS TXT record a receiver would look up."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def test_smtp_signs_with_dkim_so_a_receiver_verifies_what_arrived(smtp):
    sink, controller = smtp
    pem, record = dkim_key()
    output = SmtpOutput(
        host="127.0.0.1",
        port=controller.port,
        security="none",
        from_address="billing@club.example",
        dkim_domain="club.example",
        dkim_selector="mail2026",
        dkim_private_key=pem,
    )
    output.send(message(1))
    output.close()

    ((_, rcpt_tos, raw),) = sink.messages
    assert rcpt_tos == ["member1@example.com"]
    looked_up = []

    def dns(name, timeout=5):  # the receiver's DNS, answered here: no network
        looked_up.append(name)
        return record

    assert dkim.verify(raw, dnsfunc=dns)
    assert looked_up == [b"mail2026._domainkey.club.example."]
    signature = email.message_from_bytes(raw)["DKIM-Signature"]
    assert "d=club.example" in signature and "list-unsubscribe" not in signature.lower()
    tampered = raw.replace(b"December 8", b"December 9")
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_a_dkim_key_that_cannot_sign_stops_the_output_with_what_to_fix(smtp):
    _, controller = smtp
    output = SmtpOutput(
        host="127.0.0.1",
        port=controller.port,
        security="none",
        from_address="b@club.example",
        dkim_domain="club.example",
        dkim_selector="s1",
        dkim_private_key="not a key",
    )
    with pytest.raises(DeliveryError, match="s1._domainkey.club.example") as failure:
        output.send(message())
    assert failure.value.output_down


def test_dkim_settings_come_whole_or_not_at_all():
    with pytest.raises(ValueError, match="DKIM needs all of"):
        SmtpOutput(host="h", from_address="b@club.example", dkim_domain="club.example")


def test_smtp_message_id_is_the_same_for_the_same_key(smtp):
    sink, controller = smtp
    output = SmtpOutput(
        host="127.0.0.1", port=controller.port, security="none", from_address="b@club.example"
    )
    output.send(message(7))
    output.send(message(7))
    ids = {email.message_from_bytes(raw)["Message-ID"] for _, _, raw in sink.messages}
    assert len(ids) == 1  # a receiver can drop the repeat


def test_smtp_refused_recipient_is_a_clear_failure(smtp):
    _, controller = smtp
    output = SmtpOutput(
        host="127.0.0.1", port=controller.port, security="none", from_address="b@club.example"
    )
    with pytest.raises(DeliveryError, match="recipient refused|550"):
        output.send(message(to_email="refused@example.com"))


def test_smtp_server_down_is_a_clear_failure():
    port = free_port()  # nothing listens there
    output = SmtpOutput(
        host="127.0.0.1",
        port=port,
        security="none",
        from_address="b@x.example",
        password="hunter2-secret",
        username="ops",
    )
    with pytest.raises(DeliveryError) as failure:
        output.send(message())
    assert f"SMTP 127.0.0.1:{port}: ConnectionRefusedError" in str(failure.value)
    assert "hunter2" not in str(failure.value)


# -- webhook and Zapier ----------------------------------------------------------------------


def test_webhook_is_signed_and_carries_the_idempotency_key():
    with HttpReceiver() as receiver:
        output = WebhookOutput(url=f"{receiver.url}/hooks/memberflow", secret="s3cret")
        receipt = output.send(message())
    [request] = receiver.requests
    assert receipt.detail == "HTTP 200"
    assert request.path == "/hooks/memberflow"
    assert request.headers["Idempotency-Key"] == "reminders:renewal_7d:sub_1:2026-12-08:email"
    assert request.headers["Content-Type"] == "application/json"
    assert verify("s3cret", request.headers, request.body)
    assert not verify("other-secret", request.headers, request.body)
    assert not verify("s3cret", request.headers, request.body + b" ")
    assert request.json()["fields"] == {"first_name": "Ada", "amount": "$19.99"}


def test_zapier_gets_the_message_and_merge_fields_as_json():
    with HttpReceiver() as receiver:
        ZapierOutput(hook_url=f"{receiver.url}/hooks/catch/123/abc/").send(message())
    [request] = receiver.requests
    body = request.json()
    assert body["to_email"] == "member1@example.com"
    assert body["subject"].startswith("Your membership")
    assert body["fields"]["amount"] == "$19.99"
    assert request.headers["Idempotency-Key"] == body["key"]


def test_5xx_is_retried_with_exponential_backoff(no_sleep):
    with HttpReceiver() as receiver:
        receiver.script = [Reply(500), Reply(502)]
        WebhookOutput(url=receiver.url, secret="s").send(message())
    assert len(receiver.requests) == 3
    assert no_sleep == [1.0, 2.0]
    keys = {r.headers["Idempotency-Key"] for r in receiver.requests}
    assert len(keys) == 1


def test_429_hands_the_pause_it_asks_for_back_to_the_engine(no_sleep):
    """Not slept here, on one thread: the engine pauses every send to that output."""
    with HttpReceiver() as receiver:
        receiver.script = [Reply(429, {"Retry-After": "7"}), Reply(429)]
        for asked in (7.0, 1.0):
            with pytest.raises(DeliveryError, match="asked to slow down") as throttled:
                ZapierOutput(hook_url=receiver.url).send(message())
            assert throttled.value.retry_after == asked and not throttled.value.output_down
    assert no_sleep == [] and len(receiver.requests) == 2


def test_other_4xx_are_not_retried(no_sleep):
    with HttpReceiver() as receiver:
        receiver.script = [Reply(400)]
        with pytest.raises(DeliveryError, match=r"^HTTP 400 from http://127\.0\.0\.1:\d+: ") as e:
            WebhookOutput(url=receiver.url, secret="s").send(message())
    assert len(receiver.requests) == 1 and no_sleep == []
    assert e.value.permanent and not e.value.output_down  # this message, for good


def test_after_the_last_try_the_failure_names_status_not_secrets(no_sleep):
    with HttpReceiver() as receiver:
        receiver.script = [Reply(503)] * 4
        hook = f"{receiver.url}/hooks/catch/123/SECRETPATH/"
        with pytest.raises(DeliveryError) as failure:
            ZapierOutput(hook_url=hook).send(message())
    assert len(receiver.requests) == 4 and no_sleep == [1.0, 2.0, 4.0]
    assert str(failure.value).startswith("HTTP 503 from http://127.0.0.1:")
    assert "SECRETPATH" not in str(failure.value)


def test_timeouts_are_retried(no_sleep):
    with HttpReceiver() as receiver:
        receiver.script = [Reply(200, delay=1.0)]
        receipt = WebhookOutput(url=receiver.url, secret="s", answer_timeout=0.3).send(message())
    assert receipt.detail == "HTTP 200"
    assert len(receiver.requests) == 2 and no_sleep == [1.0]


def test_connection_refused_is_retried_then_reported(no_sleep):
    port = free_port()
    with pytest.raises(DeliveryError, match="ConnectionError posting to http://127.0.0.1"):
        WebhookOutput(url=f"http://127.0.0.1:{port}/x", secret="s").send(message())
    assert no_sleep == [1.0, 2.0, 4.0]


# -- script and file -------------------------------------------------------------------------


def test_script_receives_the_message_as_json_on_stdin(tmp_path):
    out = tmp_path / "got.json"
    script = f"import sys; open({str(out)!r}, 'w').write(sys.stdin.read()); print('queued 42')"
    receipt = ScriptOutput(command=[sys.executable, "-c", script]).send(message())
    assert receipt.detail == "queued 42"
    assert json.loads(out.read_text())["key"] == message().key


def test_script_failure_and_timeout_are_reported():
    failing = [sys.executable, "-c", "import sys; sys.stderr.write('crm said no'); sys.exit(3)"]
    with pytest.raises(DeliveryError, match="exited 3: crm said no"):
        ScriptOutput(command=failing).send(message())
    slow = [sys.executable, "-c", "import time; time.sleep(5)"]
    with pytest.raises(DeliveryError, match="ran past 0.3 s"):
        ScriptOutput(command=slow, timeout=0.3).send(message())
    with pytest.raises(DeliveryError, match="cannot run /no/such/program"):
        ScriptOutput(command=["/no/such/program"]).send(message())


def test_file_output_writes_one_eml_per_key(tmp_path):
    output = FileOutput(directory=str(tmp_path), from_address="b@club.example")
    output.send(message(1))
    output.send(message(1))
    output.send(message(2))
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [
        "reminders_renewal_7d_sub_1_2026-12-08_email.eml",
        "reminders_renewal_7d_sub_2_2026-12-08_email.eml",
    ]
    parsed = email.message_from_bytes((tmp_path / files[0]).read_bytes(), policy=policy.default)
    assert parsed.get_body(("html",)).get_content().startswith("<p>Hi Ada")


def test_an_email_is_from_the_business_by_name_and_replies_reach_support(tmp_path):
    fields = {"business_name": "Makers Club", "support_email": "help@club.example"}
    path = FileOutput(directory=str(tmp_path), from_address="billing@club.example").send(
        message(1, fields=fields)
    )
    parsed = email.message_from_bytes(open(path.detail, "rb").read(), policy=policy.default)
    assert parsed["From"] == "Makers Club <billing@club.example>"
    assert parsed["Reply-To"] == "help@club.example"
    assert parsed["Date"] and parsed["Message-ID"]
