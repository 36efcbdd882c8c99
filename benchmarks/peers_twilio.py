"""django-two-factor-auth's Twilio gateway, aimed at the sandbox.

The gateway builds ``twilio.rest.Client(TWILIO_ACCOUNT_SID,
TWILIO_AUTH_TOKEN)`` for every SMS and offers no setting for the API's
address, so this subclass changes only that: after their constructor runs,
the client's ``api`` domain gets ``settings.BENCH_TWILIO_URL`` as its base URL
(the twilio library joins each resource path to ``Domain.base_url``). Their
``send_sms`` (template, ``messages.create``, no timeout) runs unchanged.
Importable only where twilio and django-two-factor-auth are installed.
"""

from __future__ import annotations

from django.conf import settings
from two_factor.gateways.twilio.gateway import Twilio


class SandboxTwilio(Twilio):
    def __init__(self) -> None:
        super().__init__()
        self.client.api.base_url = settings.BENCH_TWILIO_URL
