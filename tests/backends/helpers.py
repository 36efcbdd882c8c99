"""SMS_GATEWAYS entries pointing at the sandbox, and other small test helpers."""

from __future__ import annotations

import socket
from typing import Any

from django_sms_gateway.sandbox import CREDENTIALS, Sandbox

SENDER = "+4740003410"
NUMBER = "+4798765432"


def signicat_entry(sandbox, **options):
    """An ``SMS_GATEWAYS`` entry for the sandbox's Signicat."""
    timeout = options.pop("TIMEOUT", 2)
    return {
        "BACKEND": "django_sms_gateway.backends.signicat.SignicatBackend",
        "OPTIONS": {"base_url": sandbox.base_url("signicat"), "sender": "Acme", **CREDENTIALS["signicat"], **options},
        "TIMEOUT": timeout,
    }


def zignsec_entry(sandbox, **options):
    """An ``SMS_GATEWAYS`` entry for the sandbox's ZignSec."""
    timeout = options.pop("TIMEOUT", 2)
    return {
        "BACKEND": "django_sms_gateway.backends.zignsec.ZignSecBackend",
        "OPTIONS": {"base_url": sandbox.base_url("zignsec"), "sender": SENDER,
                    "api_key": CREDENTIALS["zignsec"]["api_key"], **options},
        "TIMEOUT": timeout,
    }


ACCUAUTH = "django_sms_gateway.backends.accuauth.AccuAuthBackend"
IP1 = "django_sms_gateway.backends.ip1.IP1Backend"
LOCMEM = "django_sms_gateway.backends.locmem.LocmemBackend"
#: Seconds for one vendor call: short, so "hang" faults end quickly.
TIMEOUT = 1.0
LOCMEM_ENTRY = {"BACKEND": LOCMEM}


def accuauth_entry(sandbox: Sandbox | None, *, base_url: str | None = None, timeout: float = TIMEOUT,
                   **options: Any) -> dict[str, Any]:
    credentials = CREDENTIALS["accuauth"]
    return {
        "BACKEND": ACCUAUTH,
        "OPTIONS": {"base_url": base_url or sandbox.base_url("accuauth"), "api_id": credentials["api_id"],
                    "api_secret": credentials["api_secret"], **options},
        "TIMEOUT": timeout,
    }


def ip1_entry(sandbox: Sandbox | None, *, base_url: str | None = None, timeout: float = TIMEOUT,
              **options: Any) -> dict[str, Any]:
    credentials = CREDENTIALS["ip1"]
    return {
        "BACKEND": IP1,
        "OPTIONS": {"base_url": base_url or sandbox.base_url("ip1"), "account": credentials["account"],
                    "api_key": credentials["api_key"], **options},
        "TIMEOUT": timeout,
    }


def closed_port_url(path: str = "") -> str:
    """An http URL on loopback where nothing listens (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/{path.lstrip('/')}".rstrip("/")
