"""FileOutput: each message as an .eml file. The embedded default and the demo's output."""

import os
import re
import tempfile
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from blocks.outputs.base import Output
from memberflow.messaging.mail import build_email
from memberflow.messaging.messages import DeliveryError, Message, Receipt


class FileOutput(Output):
    """Writes each message as `<directory>/<idempotency key>.eml`; a repeat overwrites itself.

    Example:
        ```python
        from blocks.outputs.file import FileOutput
        output = FileOutput.load("BLOCK_NAME")
        ```
    """

    _block_type_name = "memberflow File Output"
    default_concurrency: ClassVar[int] = 1  # a local disk answers at once: threads only add cost

    directory: str = Field(default="./outbox", title="Directory", description="Where to write.")
    from_address: str = Field(
        default="billing@example.com", title="From address", description="The sender shown."
    )

    def send(self, message: Message) -> Receipt:
        folder = Path(self.directory)
        path = folder / (re.sub(r"[^A-Za-z0-9._-]+", "_", message.key) + ".eml")
        data = build_email(message, self.from_address).as_bytes()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # write then rename: a crash never leaves half a message behind
            with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".tmp") as tmp:
                try:
                    tmp.write(data)
                    tmp.flush()  # a full disk says so here, not after the rename
                except OSError:
                    os.unlink(tmp.name)  # no half-written file left to fill the disk further
                    raise
            os.replace(tmp.name, path)
        except OSError as error:
            # a full disk or a missing permission stops every message, not just this one
            reason = f"cannot write {path}: {error.strerror}"
            raise DeliveryError(reason, output_down=True) from None
        return Receipt(str(path))
