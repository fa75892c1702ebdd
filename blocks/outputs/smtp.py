"""SmtpOutput: multipart text + HTML email through any SMTP server, one connection per batch."""

import smtplib
import ssl
import threading
from typing import ClassVar, Literal

from pydantic import Field, PrivateAttr, SecretStr, model_validator

from blocks.outputs.base import Output
from memberflow.messaging.mail import build_email, dkim_signed
from memberflow.messaging.messages import DeliveryError, Message, Receipt


class SmtpOutput(Output):
    """Sends email with `smtplib`, reusing one connection for a whole batch.

    Example:
        ```python
        from blocks.outputs.smtp import SmtpOutput
        output = SmtpOutput.load("BLOCK_NAME")
        ```
    """

    _block_type_name = "memberflow SMTP Output"

    host: str = Field(title="Host", description="SMTP server host name.")
    port: int = Field(default=587, title="Port", description="SMTP server port.")
    security: Literal["starttls", "ssl", "none"] = Field(
        default="starttls", title="Security", description="STARTTLS, implicit SSL, or none."
    )
    username: str | None = Field(default=None, title="Username", description="Login, if any.")
    password: SecretStr | None = Field(default=None, title="Password", description="Password.")
    from_address: str = Field(title="From address", description="Envelope and header sender.")
    from_name: str = Field(default="", title="From name", description="Display name of sender.")
    timeout: float = Field(default=20, title="Timeout", description="Seconds per SMTP command.")
    # DKIM, for owners who send from their own server (a relay such as Postmark signs for you)
    dkim_domain: str | None = Field(
        default=None, title="DKIM domain", description="Sign as this domain (d=); empty: no DKIM."
    )
    dkim_selector: str | None = Field(
        default=None, title="DKIM selector", description="The key's selector (s=), e.g. mail2026."
    )
    dkim_private_key: SecretStr | None = Field(
        default=None, title="DKIM private key", description="PEM private key of that selector."
    )

    default_concurrency: ClassVar[int] = 4  # relays limit connections per client; ask yours

    # one connection per sending thread (an SMTP session carries one message at a time)
    _local: threading.local = PrivateAttr(default_factory=threading.local)
    _open: list[smtplib.SMTP] = PrivateAttr(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @model_validator(mode="after")
    def _dkim_whole_or_absent(self) -> "SmtpOutput":
        given = [self.dkim_domain, self.dkim_selector, self.dkim_private_key]
        if any(given) and not all(given):
            raise ValueError("DKIM needs all of dkim_domain, dkim_selector and dkim_private_key")
        return self

    def send(self, message: Message) -> Receipt:
        mail = build_email(message, self.from_address, self.from_name)
        wire = self._signed(mail)
        try:
            self._transmit(mail, wire, message.to_email)
        except smtplib.SMTPServerDisconnected:
            self._drop()  # the server dropped an idle connection: once more, fresh
            self._transmit(mail, wire, message.to_email)
        except _ONE_MESSAGE as error:  # this recipient or this message: the server is fine
            reason = f"SMTP {self.host}:{self.port}: {_reason(error)}"
            raise DeliveryError(reason, permanent=_permanent(error)) from None
        except (smtplib.SMTPException, OSError) as error:
            self._drop()
            raise DeliveryError(
                f"SMTP {self.host}:{self.port}: {_reason(error)}", output_down=True
            ) from None
        return Receipt(f"smtp {self.host} {mail['Message-ID']}")

    def _signed(self, mail) -> bytes | None:
        if not self.dkim_domain:
            return None
        key = self.dkim_private_key.get_secret_value()
        try:
            return dkim_signed(mail, self.dkim_domain, self.dkim_selector, key)
        except ValueError as error:  # every message would fail alike: the Block needs fixing
            raise DeliveryError(str(error), output_down=True) from None

    def _transmit(self, mail, wire: bytes | None, to_email: str) -> None:
        if wire is None:
            self._connected().send_message(mail)
        else:  # sent byte for byte as signed
            self._connected().sendmail(self.from_address, [to_email], wire)

    def _connected(self) -> smtplib.SMTP:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._connect()
            with self._lock:
                self._open.append(connection)
        return connection

    def _drop(self) -> None:
        """Forgets this thread's connection (broken, or dropped by the server)."""
        connection, self._local.connection = getattr(self._local, "connection", None), None
        if connection is not None:
            with self._lock:
                self._open.remove(connection)
            _quit(connection)

    def _connect(self) -> smtplib.SMTP:
        try:
            if self.security == "ssl":
                context = ssl.create_default_context()
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            if self.username:
                password = self.password.get_secret_value() if self.password else ""
                smtp.login(self.username, password)
        except (smtplib.SMTPException, OSError) as error:
            # cannot connect, hung, TLS or login refused: no message can go
            reason = f"SMTP {self.host}:{self.port}: {_reason(error)}"
            raise DeliveryError(reason, output_down=True) from None
        return smtp

    def close(self) -> None:
        with self._lock:
            connections, self._open = self._open, []
        for connection in connections:
            _quit(connection)
        self._local = threading.local()


def _quit(connection: smtplib.SMTP) -> None:
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        connection.close()


_ONE_MESSAGE = (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError)


def _permanent(error: Exception) -> bool:
    """A 5xx reply refuses the message for good (no such mailbox, rejected content); a 4xx
    (mailbox busy, greylisted) asks us to try again later."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
    else:
        codes = [getattr(error, "smtp_code", 0)]
    return bool(codes) and all(code >= 500 for code in codes)


def _reason(error: Exception) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {error.smtp_error.decode(errors='replace')[:200]}"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "recipient refused"
    return f"{type(error).__name__}: {error}"[:200]
