"""A healthy send through any vendor runs code of the backend layer only:
``backends/base.py``, ``backends/http.py`` and the vendor's own module (plus
its family base where the protocol needs it: the OAuth 2.0 token, AWS
signing). iP1 alone also runs the text layer, which renders the site's
message as iP1's ``MessageFormat``. Counted with ``sys.setprofile`` over
``backend.send(...)`` against the sandbox: a helper hop into another module
of the package would show here."""

from __future__ import annotations

import pytest

from django_sms_gateway.dispatch import build_message

from .helpers import NUMBER, VENDORS, gateway_entry, package_modules_run, vendor_params

#: iP1 renders the site's text as its own MessageFormat on every send.
IP1_TEXT = {"text", "backends.templates"}


def own_modules(backend: object) -> set[str]:
    """The package modules of ``backend``'s class and its bases (its own module and its family base)."""
    return {
        cls.__module__.removeprefix("django_sms_gateway.")
        for cls in type(backend).__mro__ if cls.__module__.startswith("django_sms_gateway.")
    }


@pytest.mark.parametrize("vendor", vendor_params(sorted(VENDORS)))
def test_a_healthy_send_runs_only_the_backend_layer(vendor, sandbox, built_backends, aws_credentials):
    backend = built_backends(vendor, gateway_entry(vendor, sandbox, timeout=2))
    message = build_message(NUMBER, "123456")
    backend.send(message, timeout=2)  # a kept-alive connection, a token, credentials: what every later send has
    modules = package_modules_run(lambda: backend.send(message, timeout=2))
    allowed = own_modules(backend) | {"backends.base", "backends.http"} | (IP1_TEXT if vendor == "ip1" else set())
    assert type(backend).__module__.removeprefix("django_sms_gateway.") in modules
    assert modules <= allowed, sorted(modules - allowed)
