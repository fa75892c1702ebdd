"""ScriptOutput: any command, given the message as JSON on stdin."""

import json
import subprocess

from pydantic import Field

from blocks.outputs.base import Output
from memberflow.messaging.messages import DeliveryError, Message, Receipt

EX_DATAERR = 65


class ScriptOutput(Output):
    """Runs `command` once per message with the message as JSON on stdin.

    Exit status 0 is success (the first line of stdout becomes the receipt); anything else,
    or running past `timeout`, fails the touchpoint with the end of stderr as the reason.

    Example:
        ```python
        from blocks.outputs.script import ScriptOutput
        output = ScriptOutput.load("BLOCK_NAME")
        ```
    """

    _block_type_name = "memberflow Script Output"
    channel = "script"

    command: list[str] = Field(title="Command", description="Program and arguments to run.")
    timeout: float = Field(default=30, title="Timeout", description="Seconds before it is killed.")

    def send(self, message: Message) -> Receipt:
        payload = json.dumps(message.to_json(), default=str)
        try:
            done = subprocess.run(
                self.command, input=payload, capture_output=True, text=True, timeout=self.timeout
            )
        except subprocess.TimeoutExpired:
            reason = f"{self.command[0]} ran past {self.timeout:g} s"
            raise DeliveryError(reason, output_down=True) from None
        except OSError as error:
            reason = f"cannot run {self.command[0]}: {error.strerror}"
            raise DeliveryError(reason, output_down=True) from None
        if done.returncode != 0:
            tail = done.stderr.strip()[-300:] or "no output on stderr"
            reason = f"{self.command[0]} exited {done.returncode}: {tail}"
            # sysexits' EX_DATAERR: the script refuses this message for good; else retried
            raise DeliveryError(reason, permanent=done.returncode == EX_DATAERR)
        return Receipt(done.stdout.strip().splitlines()[0][:200] if done.stdout.strip() else "ok")
