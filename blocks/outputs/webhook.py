"""WebhookOutput: the message as JSON, signed with HMAC-SHA256 like Stripe signs its webhooks."""

from pydantic import Field, SecretStr

from blocks.outputs.http import HttpOutput
from memberflow.core.signing import sign
from memberflow.messaging.http import post_json
from memberflow.messaging.messages import Message, Receipt


class WebhookOutput(HttpOutput):
    """POSTs each message as JSON with `Memberflow-Signature: v1=<hex>` over `timestamp.body`
    and an `Idempotency-Key` header. Receivers verify with `memberflow.core.signing.verify`.

    Example:
        ```python
        from blocks.outputs.webhook import WebhookOutput
        output = WebhookOutput.load("BLOCK_NAME")
        ```
    """

    _block_type_name = "memberflow Webhook Output"
    channel = "webhook"

    url: str = Field(title="URL", description="Where to POST each message.")
    secret: SecretStr = Field(title="Signing secret", description="Shared HMAC-SHA256 secret.")

    def send(self, message: Message) -> Receipt:
        body = self.body(message)
        headers = {"Idempotency-Key": message.key, **sign(self.secret.get_secret_value(), body)}
        response = post_json(self.session, self.url, body, headers, self.answer_timeout)
        return Receipt(f"HTTP {response.status_code}")
