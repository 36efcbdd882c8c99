"""Django settings for ``make bench-peers``: :mod:`benchmarks.settings` plus
the two peers, whose devices live in the same throw-away database.

Runs only in the peers' own environment (``.venv-peers``, made by the
Makefile target), where django-two-factor-auth, twilio and django-otp-twilio
are installed. Each peer is pointed at the sandbox's Twilio imitation through
its own configuration, never by patching its code:

- django-otp-twilio: its documented ``OTP_TWILIO_URL`` setting;
- django-two-factor-auth: ``TWO_FACTOR_SMS_GATEWAY`` names
  :class:`benchmarks.peers_twilio.SandboxTwilio`, its own Twilio gateway with
  the Twilio client's API base URL set to ``BENCH_TWILIO_URL`` (the client
  takes no base URL from settings or the environment); ``send_sms`` is
  theirs, unchanged.

The URLs are placeholders; :mod:`benchmarks.peers` overrides them once the
sandbox's port is known.
"""

from __future__ import annotations

from sms_sandbox.twilio import CREDENTIALS as TWILIO

from .settings import *  # noqa: F403 (the bench's settings, extended)
from .settings import INSTALLED_APPS

INSTALLED_APPS = [
    *INSTALLED_APPS,
    "django_otp.plugins.otp_static",
    "django_otp.plugins.otp_totp",
    "phonenumber_field",
    "two_factor",
    "two_factor.plugins.phonenumber",
    "otp_twilio",
]
# django-two-factor-auth renders its SMS text from a template.
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]

BENCH_TWILIO_URL = "http://127.0.0.1:9/twilio"
SENDER_NUMBER = "+4740001234"

TWO_FACTOR_SMS_GATEWAY = "benchmarks.peers_twilio.SandboxTwilio"
TWILIO_ACCOUNT_SID = TWILIO["account_sid"]
TWILIO_AUTH_TOKEN = TWILIO["auth_token"]
TWILIO_CALLER_ID = SENDER_NUMBER

OTP_TWILIO_URL = BENCH_TWILIO_URL
OTP_TWILIO_ACCOUNT = TWILIO["account_sid"]
OTP_TWILIO_AUTH = TWILIO["auth_token"]
OTP_TWILIO_FROM = SENDER_NUMBER
OTP_TWILIO_TOKEN_VALIDITY = 300
