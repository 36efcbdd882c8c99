"""Shared pieces of the browser tests (Playwright driving Debian's Chromium)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
#: Static files the example site serves: the package's (the SMS step's script) and the demo's.
STATIC_SOURCES = (ROOT / "django_sms_gateway" / "static", ROOT / "example_project" / "demo" / "static")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("no Chromium binary: apt-get install chromium, or set CHROMIUM_PATH")
    return path


def shot(page, name: str, path: Path | None = None) -> None:
    """Save a full-page screenshot under ``test-artifacts/browser/`` (or at ``path``)."""
    page.screenshot(path=str(path or ARTIFACTS / f"{name}.png"), full_page=True)
