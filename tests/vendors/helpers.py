"""SMS_GATEWAYS entries pointing at the sandbox, and other small test helpers."""

from __future__ import annotations

import re
import socket
from typing import Any

from django_sms_gateway.sandbox import CREDENTIALS, Sandbox
from django_sms_gateway.sandbox.twilio import VERIFY_SERVICE_SID

SENDER = "+4740003410"
NUMBER = "+4798765432"
#: Seconds for one vendor call: short, so "hang" faults end quickly.
TIMEOUT = 1.0
LOCMEM = "django_sms_gateway.backends.locmem.LocmemBackend"
LOCMEM_ENTRY = {"BACKEND": LOCMEM}

#: Vendor name (as the sandbox names it, or ``<sandbox name>-<API>``) -> backend path and the
#: options every entry carries.
VENDORS: dict[str, tuple[str, dict[str, Any]]] = {
    "signicat": ("django_sms_gateway.backends.signicat.SignicatBackend", {"sender": "Acme"}),
    "zignsec": ("django_sms_gateway.backends.zignsec.ZignSecBackend", {"sender": SENDER}),
    "accuauth": ("django_sms_gateway.backends.accuauth.AccuAuthBackend", {}),
    "ip1": ("django_sms_gateway.backends.ip1.IP1Backend", {}),
    "twilio": ("django_sms_gateway.backends.twilio.TwilioBackend", {"sender": "+15005550006"}),
    "twilio-verify": ("django_sms_gateway.backends.twilio.TwilioVerifyBackend", {"service_sid": VERIFY_SERVICE_SID}),
    "vonage": ("django_sms_gateway.backends.vonage.VonageBackend", {"sender": "Acme"}),
}
SIGNICAT, ZIGNSEC, ACCUAUTH, IP1 = (VENDORS[name][0] for name in ("signicat", "zignsec", "accuauth", "ip1"))


def credentials(vendor: str) -> dict[str, str]:
    """The sandbox's credentials for ``vendor``'s OPTIONS (a webhook secret only where a test asks)."""
    return {name: value for name, value in CREDENTIALS[vendor.partition("-")[0]].items()
            if name not in ("webhook_secret", "signature_secret")}


def gateway_entry(vendor: str, sandbox: Sandbox | None, *, base_url: str | None = None,
                  timeout: float = TIMEOUT, **options: Any) -> dict[str, Any]:
    """An ``SMS_GATEWAYS`` entry for ``vendor`` at the sandbox (or at
    ``base_url``), with the sandbox's credentials; ``options`` add to or
    replace the entry's ``OPTIONS``."""
    backend, defaults = VENDORS[vendor]
    base_url = base_url or sandbox.base_url(vendor.partition("-")[0])
    return {
        "BACKEND": backend,
        "OPTIONS": {"base_url": base_url, **defaults, **credentials(vendor), **options},
        "TIMEOUT": timeout,
    }


def signicat_entry(sandbox, **options):
    return gateway_entry("signicat", sandbox, timeout=options.pop("TIMEOUT", 2), **options)


def zignsec_entry(sandbox, **options):
    return gateway_entry("zignsec", sandbox, timeout=options.pop("TIMEOUT", 2), **options)


def accuauth_entry(sandbox, **options):
    return gateway_entry("accuauth", sandbox, **options)


def ip1_entry(sandbox, **options):
    return gateway_entry("ip1", sandbox, **options)


def closed_port_url(path: str = "") -> str:
    """An http URL on loopback where nothing listens (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/{path.lstrip('/')}".rstrip("/")


def ip1_code(sandbox: Sandbox) -> str:
    """The code iP1 (the sandbox) made and "sent" last."""
    return re.search(r"code is ([0-9A-Z]+)\.", sandbox.messages[-1]["text"]).group(1)


def other_code(code: str) -> str:
    """A code of the same shape that is surely not ``code``."""
    return "".join("1" if c == "0" else "0" for c in code)
