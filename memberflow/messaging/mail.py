"""Builds the MIME email for a message (multipart text + HTML), shared by file and SMTP outputs."""

import hashlib
from email import policy
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate

import dkim

from memberflow.messaging.messages import Message

# what a receiver checks against the signature: who, what, when, and how to leave
SIGNED_HEADERS = [
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"mime-version",
    b"content-type",
    b"content-language",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
]


def message_id(key: str, from_address: str) -> str:
    """A Message-ID derived from the idempotency key, so a resend is recognisably the same mail."""
    domain = from_address.rpartition("@")[2] or "memberflow.local"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def build_email(message: Message, from_address: str, from_name: str = "") -> MIMEMultipart:
    # email.mime is 3.6x faster than EmailMessage here (measured; see docs/performance.md).
    mail = MIMEMultipart("alternative")
    mail["Subject"] = message.subject
    # a name people recognise in the inbox, and replies that reach a person
    display = from_name or message.fields.get("business_name", "")
    mail["From"] = formataddr((display, from_address))
    mail["To"] = formataddr((message.to_name, message.to_email))
    if message.fields.get("support_email"):
        mail["Reply-To"] = message.fields["support_email"]
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = message_id(message.key, from_address)
    mail["X-Memberflow-Key"] = message.key
    if message.locale:
        mail["Content-Language"] = message.locale
    if message.unsubscribe_url:
        # RFC 8058: mail clients show "Unsubscribe" and POST to the URL, no page, no login
        mail["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail.attach(MIMEText(message.text, "plain", "utf-8"))
    mail.attach(MIMEText(message.html, "html", "utf-8"))
    return mail


def dkim_signed(mail: MIMEMultipart, domain: str, selector: str, private_key: str) -> bytes:
    """The message as sent on the wire (CRLF), with a DKIM-Signature header for `domain`
    (RFC 6376, relaxed/simple): receivers check it against `<selector>._domainkey.<domain>`.
    Raises ValueError, saying what to fix, when the key cannot sign."""
    raw = mail.as_bytes(policy=policy.SMTP)
    try:
        signature = dkim.sign(
            raw,
            selector.encode(),
            domain.encode(),
            private_key.encode(),
            include_headers=[name for name in SIGNED_HEADERS if mail[name.decode()] is not None],
        )
    except (dkim.DKIMException, ValueError) as error:
        raise ValueError(
            f"DKIM signing for {domain} failed ({error}): the private key must be the PEM "
            "(-----BEGIN PRIVATE KEY----- or RSA PRIVATE KEY) whose public half is published "
            f"at {selector}._domainkey.{domain}"
        ) from None
    return signature + raw
