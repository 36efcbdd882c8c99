"""Development backend: writes each message to a stream instead of sending it."""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from typing import Any, ClassVar, TextIO

from ..checks import W015
from ..phone import mask_number
from .base import BaseBackend, Option, SendResult, SMSMessage


def _stream_problem(stream: Any) -> str | None:
    return None if callable(getattr(stream, "write", None)) else "must be a writable stream (an object with write())"


class ConsoleBackend(BaseBackend):
    """Prints the message (code included) to ``stream`` (default: stdout).

    For development only: the :data:`~django_sms_gateway.checks.W001` system check warns when it
    is configured with ``DEBUG = False``. With ``withhold_codes`` (set for the
    implicit console backend of a site without ``SMS_GATEWAYS`` and with
    ``DEBUG = False``) it prints that it withheld a message, not the message,
    so that no code lands in a production server's logs.
    """

    options: ClassVar[Mapping[str, Any]] = {
        "stream": Option(None, check=_stream_problem, doc="Where messages are written (default: stdout)."),
        "sender": Option(None, kind="sender", doc="Sender shown (default: OTP_SMS_SENDER)."),
        "withhold_codes": Option(False, kind="bool", doc="print that a message was withheld, not the message"),
    }
    max_segments = 10

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()

    @property
    def stream(self) -> TextIO:
        return self.config["stream"] or sys.stdout

    def send(self, message: SMSMessage, *, timeout: float) -> SendResult:
        sender = self.config["sender"] or "-"
        if self.config["withhold_codes"]:
            line = (f"SMS via {self.alias!r} to {mask_number(message.recipient)} withheld: DEBUG is False and "
                    f"SMS_GATEWAYS is not set, so the code is not printed (see check {W015})\n")
        else:
            line = f"SMS via {self.alias!r} from {sender} to {message.recipient}:\n{message.text}\n{'-' * 40}\n"
        with self._lock:
            self.stream.write(line)
            self.stream.flush()
        return SendResult(status="printed")
