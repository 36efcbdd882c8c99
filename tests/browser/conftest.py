"""Fixtures of the browser tests: a Chromium page, and the static files the live server serves."""

from __future__ import annotations

import shutil

import pytest

from .helpers import ARTIFACTS, CHROMIUM_ARGS, STATIC_SOURCES, chromium_path

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


@pytest.fixture(scope="session")
def static_root(tmp_path_factory) -> str:
    """One directory with every static file of the example site (the live server serves STATIC_ROOT)."""
    root = tmp_path_factory.mktemp("static")
    for source in STATIC_SOURCES:
        shutil.copytree(source, root, dirs_exist_ok=True)
    return str(root)


@pytest.fixture
def browser_context(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls
    # the test makes between browser steps are still plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1100, "height": 800})
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            browser.close()


@pytest.fixture
def browser_page(browser_context):
    return browser_context.new_page()
