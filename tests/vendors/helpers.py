"""SMS_GATEWAYS entries pointing at the sandbox, and other small test helpers."""

from __future__ import annotations

import importlib
import json
import re
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import django_sms_gateway
from django_sms_gateway.backends.base import SMSMessage
from django_sms_gateway.backends.http import HTTPBackend
from django_sms_gateway.dispatch import build_message
from django_sms_gateway.exceptions import (
    GatewayAuthError,
    GatewayConnectionError,
    GatewayRateLimited,
    GatewayTimeout,
    GatewayUnavailable,
)
from sms_sandbox import CREDENTIALS, Sandbox
from sms_sandbox.twilio import VERIFY_SERVICE_SID

SENDER = "+4740003410"
NUMBER = "+4798765432"
#: Seconds for one vendor call: short, so "hang" faults end quickly.
TIMEOUT = 1.0
LOCMEM = "django_sms_gateway.backends.locmem.LocmemBackend"
LOCMEM_ENTRY = {"BACKEND": LOCMEM}

#: The sandbox's transport and HTTP faults every HTTP vendor maps alike (the HTTP base does
#: it): the error each becomes and the status code that error carries.
HTTP_FAULTS: list[tuple[str, type[Exception], int | None]] = [
    ("500", GatewayUnavailable, 500),
    ("401", GatewayAuthError, 401),
    ("429", GatewayRateLimited, 429),
    ("refuse", GatewayConnectionError, None),
    ("hang", GatewayTimeout, None),
    ("malformed", GatewayUnavailable, 200),  # a 2xx without the vendor's yes accepts nothing
    ("oversized", GatewayUnavailable, 200),
]
#: ``HTTP_FAULTS`` without the status codes.
HTTP_FAULT_ERRORS = [(fault, error) for fault, error, _ in HTTP_FAULTS]

#: Vendor name (as the sandbox names it, or ``<sandbox name>-<API>``) -> backend path and the
#: options every entry carries.
VENDORS: dict[str, tuple[str, dict[str, Any]]] = {
    "signicat": ("django_sms_gateway.backends.signicat.SignicatBackend", {"sender": "Acme"}),
    "zignsec": ("django_sms_gateway.backends.zignsec.ZignSecBackend", {"sender": SENDER}),
    "accuauth": ("django_sms_gateway.backends.accuauth.AccuAuthBackend", {}),
    "ip1": ("django_sms_gateway.backends.ip1.IP1Backend", {}),
    "twilio": ("django_sms_gateway.backends.twilio.TwilioBackend", {"sender": "+15005550006"}),
    "twilio-verify": ("django_sms_gateway.backends.twilio_verify.TwilioVerifyBackend",
                      {"service_sid": VERIFY_SERVICE_SID}),
    "vonage": ("django_sms_gateway.backends.vonage.VonageBackend", {"sender": "Acme"}),
    "infobip": ("django_sms_gateway.backends.infobip.InfobipBackend", {"sender": "Acme"}),
    "sinch": ("django_sms_gateway.backends.sinch.SinchBackend", {"sender": "Acme"}),
    "aws": ("django_sms_gateway.backends.aws.AWSEndUserMessagingBackend", {"region": "eu-west-1"}),
}
SIGNICAT, ZIGNSEC, ACCUAUTH, IP1 = (VENDORS[name][0] for name in ("signicat", "zignsec", "accuauth", "ip1"))


def importable(name: str) -> bool:
    """Whether ``import name`` works here."""
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


#: Skips a test that sends through AWS (it signs with botocore) where the [aws] extra is not installed,
#: as tests/vendors/test_aws.py skips.
NEEDS_BOTOCORE = pytest.mark.skipif(not importable("botocore"),
                                    reason="the AWS backend needs the [aws] extra (botocore) for signing")


def vendor_params(vendors: list[str]) -> list[Any]:
    """``vendors`` as pytest parameters, AWS's marked :data:`NEEDS_BOTOCORE`."""
    return [pytest.param(vendor, marks=[NEEDS_BOTOCORE] if vendor == "aws" else []) for vendor in vendors]


def credentials(vendor: str) -> dict[str, str]:
    """The sandbox's credentials for ``vendor``'s OPTIONS (a webhook secret only where a test asks)."""
    if vendor == "aws":  # credentials come from botocore's chain (the environment in tests), not OPTIONS
        return {}
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


class Probe(HTTPBackend):
    """An HTTP backend of no vendor, for calling :meth:`HTTPBackend.request` directly."""


def message_with(code: str, text: str | None = None, recipient: str = NUMBER) -> SMSMessage:
    """The message the app builds for ``code``, or one that carries ``text`` as it is."""
    built = build_message(recipient, code)
    return built if text is None else SMSMessage(recipient=recipient, text=text, code=code)


def closed_port_url(path: str = "") -> str:
    """An http URL on loopback where nothing listens (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/{path.lstrip('/')}".rstrip("/")


def ip1_code(sandbox: Sandbox) -> str:
    """The code iP1 (the sandbox) made and "sent" last."""
    return re.search(r"code is ([0-9A-Z]+)\.", sandbox.messages[-1]["text"]).group(1)


def verify_code(sandbox: Sandbox) -> str:
    """The code Twilio Verify (the sandbox) made and "sent" last."""
    return re.search(r"code is: (\d+)", sandbox.messages[-1]["text"]).group(1)


def other_code(code: str) -> str:
    """A code of the same shape that is surely not ``code``."""
    return "".join("1" if c == "0" else "0" for c in code)


class FixedAnswer:
    """A loopback HTTP server that answers every request with one fixed answer:
    for vendor answers the sandbox would never give (a 2xx without the vendor's yes)."""

    def __init__(self, status: int, body: Any, content_type: str = "application/json") -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_any(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self) -> FixedAnswer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def package_modules_run(call: Callable[[], Any]) -> set[str]:
    """The package's modules (dotted, below ``django_sms_gateway``; a package
    by its own name) with a Python function called while ``call()`` runs in
    this thread."""
    seen: set[str] = set()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            seen.add(frame.f_code.co_filename)

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    package = Path(django_sms_gateway.__file__).parent
    return {
        ".".join(path.relative_to(package).with_suffix("").parts).removesuffix(".__init__")
        for path in map(Path, seen) if path.is_relative_to(package)
    }
