"""Which SMS gateways the demo uses, chosen by the ``DEMO_SMS`` environment variable.

- ``console``: the console backend; the message (code included) is printed
  in the terminal that runs the server.
- ``sandbox``: Signicat first, ZignSec second and Twilio third, all pointing
  at the loopback vendor sandbox (``manage.py demo`` starts it), then the
  console backend as a last resort so a code is visible even with every
  vendor off. ZignSec and Twilio report delivery to the site's webhooks
  (given the site's URL), so a silent vendor fails over after
  ``OTP_SMS_DELIVERY_DEADLINE``.

Unset: ``sandbox`` when the Signicat and ZignSec backends and the sandbox are
installed, else ``console``.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

from django.core.exceptions import ImproperlyConfigured

MODES = ("console", "sandbox")
SANDBOX_MODULES = (
    "django_sms_gateway.backends.signicat",
    "django_sms_gateway.backends.zignsec",
    "django_sms_gateway.backends.twilio",
    "sms_sandbox",
)

CONSOLE_GATEWAY = {"BACKEND": "django_sms_gateway.backends.console.ConsoleBackend"}


def _importable(name: str) -> bool:
    try:
        return find_spec(name) is not None
    except ImportError:  # a parent package is missing
        return False


def sandbox_available() -> bool:
    """True when the vendor backends and the sandbox the demo needs are installed."""
    return all(_importable(name) for name in SANDBOX_MODULES)


def choose_mode(value: str | None) -> str:
    """The demo's SMS mode for the ``DEMO_SMS`` value ``value`` (None or "": the default).

    Raises ``ImproperlyConfigured`` for an unknown value, or for ``sandbox``
    when its backends are not installed.
    """
    mode = (value or "").strip().lower()
    if not mode:
        return "sandbox" if sandbox_available() else "console"
    if mode not in MODES:
        raise ImproperlyConfigured(f"DEMO_SMS={value!r}: choose one of {', '.join(MODES)}.")
    if mode == "sandbox" and not sandbox_available():
        missing = ", ".join(name for name in SANDBOX_MODULES if not _importable(name))
        raise ImproperlyConfigured(
            f"DEMO_SMS=sandbox needs {missing}, which this installation lacks. Use DEMO_SMS=console."
        )
    return mode


def sms_gateways(mode: str, sandbox_url: str, site_url: str | None = None) -> dict[str, dict[str, Any]]:
    """``SMS_GATEWAYS`` for ``mode``; ``sandbox_url`` is the sandbox's root URL,
    ``site_url`` the site's, where ZignSec and Twilio send delivery receipts
    (None: no receipts)."""
    if mode == "console":
        return {"console": CONSOLE_GATEWAY}
    if mode != "sandbox":
        raise ImproperlyConfigured(f"unknown demo SMS mode {mode!r}; choose one of {', '.join(MODES)}.")
    from sms_sandbox import CREDENTIALS

    signicat, zignsec, twilio = CREDENTIALS["signicat"], CREDENTIALS["zignsec"], CREDENTIALS["twilio"]
    zignsec_receipts = twilio_receipts = {}
    if site_url:
        zignsec_receipts = {"webhook_url": f"{site_url}/sms/webhooks/zignsec/zignsec/",
                            "webhook_secret": zignsec["webhook_secret"]}
        twilio_receipts = {"status_callback": f"{site_url}/sms/webhooks/twilio/twilio/"}
    return {
        "signicat": {
            "BACKEND": "django_sms_gateway.backends.signicat.SignicatBackend",
            "OPTIONS": {
                "base_url": f"{sandbox_url}/signicat",
                "client_id": signicat["client_id"],
                "client_secret": signicat["client_secret"],
                "sender": "SMSDemo",
            },
            "TIMEOUT": 3,
        },
        "zignsec": {
            "BACKEND": "django_sms_gateway.backends.zignsec.ZignSecBackend",
            "OPTIONS": {
                "base_url": f"{sandbox_url}/zignsec",
                "api_key": zignsec["api_key"],
                "sender": "+4740003410",
                **zignsec_receipts,
            },
            "TIMEOUT": 3,
        },
        "twilio": {
            "BACKEND": "django_sms_gateway.backends.twilio.TwilioBackend",
            "OPTIONS": {
                "base_url": f"{sandbox_url}/twilio",
                "account_sid": twilio["account_sid"],
                "auth_token": twilio["auth_token"],
                "sender": "+15005550006",
                **twilio_receipts,
            },
            "TIMEOUT": 3,
        },
        "console": CONSOLE_GATEWAY,
    }
