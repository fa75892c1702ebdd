"""ZapierOutput: the message and its merge fields to a Zapier "Catch Hook"."""

from pydantic import Field, SecretStr

from blocks.outputs.http import HttpOutput
from memberflow.messaging.http import post_json
from memberflow.messaging.messages import Message, Receipt


class ZapierOutput(HttpOutput):
    """POSTs each message as JSON to a Zapier catch hook; every merge field is a Zap field.

    Example:
        ```python
        from blocks.outputs.zapier import ZapierOutput
        output = ZapierOutput.load("BLOCK_NAME")
        ```
    """

    _block_type_name = "memberflow Zapier Output"
    channel = "zapier"

    # the hook URL is the only credential Zapier has, so it is kept as a secret
    hook_url: SecretStr = Field(title="Catch hook URL", description="The Zap's catch hook URL.")

    def send(self, message: Message) -> Receipt:
        headers = {"Idempotency-Key": message.key}
        url = self.hook_url.get_secret_value()
        response = post_json(self.session, url, self.body(message), headers, self.answer_timeout)
        return Receipt(f"HTTP {response.status_code}")
