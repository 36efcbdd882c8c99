"""Test backend: keeps messages in ``django_sms_gateway.outbox``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import django_sms_gateway

from .base import BaseBackend, Option, SendResult, SMSMessage


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One message in ``django_sms_gateway.outbox``."""

    recipient: str  # E.164
    text: str
    sender: str | None
    gateway: str  # the SMS_GATEWAYS alias
    code: str = field(repr=False, default="")


class LocmemBackend(BaseBackend):
    """Appends every message to ``django_sms_gateway.outbox``, like
    Django's locmem email backend. Sends to any number, never fails."""

    options: ClassVar[Mapping[str, Any]] = {
        "sender": Option(None, kind="sender", doc="Sender recorded (default: OTP_SMS_SENDER)."),
    }
    max_segments = 10

    def send(self, message: SMSMessage, *, timeout: float) -> SendResult:
        django_sms_gateway.outbox.append(
            OutboxMessage(
                recipient=message.recipient,
                text=message.text,
                sender=self.config["sender"],
                gateway=self.alias,
                code=message.code,
            )
        )
        return SendResult(reference=str(len(django_sms_gateway.outbox)), status="stored")
