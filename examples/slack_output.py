"""A custom output in one class: each message to a Slack channel through an incoming webhook."""

import json

from pydantic import Field, SecretStr

from blocks.outputs.http import HttpOutput
from memberflow.messaging.http import post_json
from memberflow.messaging.messages import Message, Receipt


class SlackOutput(HttpOutput):
    """Posts each message's subject and text to a Slack incoming webhook.

    Example:
        ```python
        from examples.slack_output import SlackOutput
        output = SlackOutput.load("BLOCK_NAME")
        ```
    """

    _block_type_name = "memberflow Slack Output"
    channel = "slack"  # part of the idempotency key: Slack and email are separate touchpoints

    webhook_url: SecretStr = Field(title="Webhook URL", description="Slack incoming webhook URL.")

    def send(self, message: Message) -> Receipt:
        text = f"*{message.subject}* (to {message.to_email})\n{message.text}"
        body = json.dumps({"text": text}).encode()
        url = self.webhook_url.get_secret_value()
        response = post_json(self.session, url, body, {"Idempotency-Key": message.key})
        return Receipt(f"slack HTTP {response.status_code}")
