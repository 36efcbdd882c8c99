"""Environment for the live tests: real SMS through real vendors, opt-in."""

import os

import pytest


def require_env(*names: str) -> dict[str, str]:
    """The values of ``names``; skips the test naming every missing variable."""
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        pytest.skip(f"live test: set {', '.join(missing)} to send a real SMS")
    return {name: os.environ[name] for name in names}


def optional_env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default
