"""Environment for the live tests: real SMS through real vendors, opt-in."""

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest

from django_sms_gateway.backends.base import BaseBackend
from django_sms_gateway.dispatch import build_backend


def require_env(*names: str) -> dict[str, str]:
    """The values of ``names``; skips the test naming every missing variable."""
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        pytest.skip(f"live test: set {', '.join(missing)} to send a real SMS")
    return {name: os.environ[name] for name in names}


def optional_env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default


@contextmanager
def live_backend(vendor: str, path: str, required: Mapping[str, str], optional: Mapping[str, str] = {}
                 ) -> Iterator[BaseBackend]:
    """A backend of class ``path`` whose OPTIONS come from the environment:
    ``required`` and ``optional`` map variable -> option. Skips the test,
    naming every missing variable (``SMS_LIVE_TEST_NUMBER`` included)."""
    env = require_env(*required, "SMS_LIVE_TEST_NUMBER")
    options: dict[str, Any] = {option: env[name] for name, option in required.items()}
    options.update({option: os.environ[name] for name, option in optional.items() if os.environ.get(name)})
    backend = build_backend(f"{vendor}-live", {"BACKEND": path, "OPTIONS": options, "TIMEOUT": 15})
    try:
        yield backend
    finally:
        backend.close()
