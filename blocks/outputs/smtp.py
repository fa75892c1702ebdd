"""SmtpOutput: multipart text + HTML email through any SMTP server, one connection per batch."""

import smtplib
import ssl
from typing import Literal

from pydantic import Field, PrivateAttr, SecretStr

from blocks.outputs.base import Output
from memberflow.messaging.mail import build_email
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

    _connection: smtplib.SMTP | None = PrivateAttr(default=None)

    def send(self, message: Message) -> Receipt:
        mail = build_email(message, self.from_address, self.from_name)
        try:
            self._connected().send_message(mail)
        except smtplib.SMTPServerDisconnected:
            self._connection = None  # the server dropped an idle connection: once more, fresh
            self._connected().send_message(mail)
        except _ONE_MESSAGE as error:  # this recipient or this message: the server is fine
            raise DeliveryError(f"SMTP {self.host}:{self.port}: {_reason(error)}") from None
        except (smtplib.SMTPException, OSError) as error:
            self.close()
            raise DeliveryError(
                f"SMTP {self.host}:{self.port}: {_reason(error)}", output_down=True
            ) from None
        return Receipt(f"smtp {self.host} {mail['Message-ID']}")

    def _connected(self) -> smtplib.SMTP:
        if self._connection is None:
            self._connection = self._connect()
        return self._connection

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
        if self._connection is not None:
            try:
                self._connection.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._connection = None


_ONE_MESSAGE = (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError)


def _reason(error: Exception) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {error.smtp_error.decode(errors='replace')[:200]}"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "recipient refused"
    return f"{type(error).__name__}: {error}"[:200]
