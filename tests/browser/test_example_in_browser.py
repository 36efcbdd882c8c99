"""The example site driven in a real browser (Playwright + Debian's Chromium).

Sign in, receive the code in the sandbox's inbox page, enter it, reach the
protected page; then enrol a second number. Each step's screenshot is saved
under ``test-artifacts/browser/`` (CI keeps them as artefacts).

Skips, saying why, when the ``playwright`` package or a Chromium binary is
missing (``apt-get install chromium``; ``CHROMIUM_PATH`` names another one).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from django_sms_gateway.models import SMSDevice
from tests.example_site import example_settings
from tests.vendors.helpers import signicat_entry, zignsec_entry

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

pytestmark = pytest.mark.django_db(transaction=True)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
PASSWORD = "correct horse battery"
EXAMPLE_STATIC = Path(__file__).resolve().parents[2] / "example_project" / "demo" / "static"
NUMBER = "+4798765432"
NEW_NUMBER = "+46701234567"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("no Chromium binary: apt-get install chromium, or set CHROMIUM_PATH")
    return path


@pytest.fixture
def browser_page(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls
    # the test makes between browser steps are still plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1100, "height": 800})
        context.set_default_timeout(15_000)
        page = context.new_page()
        try:
            yield page
        finally:
            browser.close()


@pytest.fixture
def site(settings, sandbox, live_server):
    for name, value in example_settings(
        SMS_GATEWAYS={"signicat": signicat_entry(sandbox), "zignsec": zignsec_entry(sandbox)},
        OTP_SMS_COOLDOWN_DURATION=0,
        # The live server serves /static/ from STATIC_ROOT.
        STATIC_ROOT=str(EXAMPLE_STATIC),
    ).items():
        setattr(settings, name, value)
    user = get_user_model().objects.create_user("walter", password=PASSWORD)
    SMSDevice.objects.create(user=user, name="Work phone", number=NUMBER, confirmed=True)
    return live_server.url


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def code_from_inbox(page, sandbox, number: str, step: str) -> str:
    """Open the sandbox inbox page, as a person would look at the phone, and read the newest code."""
    inbox = page.context.new_page()
    inbox.goto(sandbox.url + "/")
    shot(inbox, step)
    text = inbox.inner_text("body")
    inbox.close()
    after_number = text[text.index(number) :]
    match = re.search(r"\b(\d{6})\b", after_number)
    assert match, f"no code for {number} on the inbox page"
    newest = [m for m in sandbox.messages if m["recipient"] == number][-1]
    assert match.group(1) in newest["text"]
    return match.group(1)


def test_sign_in_with_sms_code_then_enrol_a_new_number(browser_page, site, sandbox):
    page = browser_page
    page.goto(site + "/")
    page.fill("#id_username", "walter")
    page.fill("#id_password", PASSWORD)
    shot(page, "01-login")
    page.click("#sign-in")

    page.wait_for_url(re.compile(r"/accounts/verify/"))
    page.click("#send-code")
    page.wait_for_selector("#id_otp_token")
    shot(page, "02-code-sent")
    assert [m["vendor"] for m in sandbox.messages] == ["signicat"]

    code = code_from_inbox(page, sandbox, NUMBER, "03-inbox")
    page.fill("#id_otp_token", code)
    page.click("#verify")
    page.wait_for_selector("#verified-device")
    shot(page, "04-protected-page")
    assert "walter" in page.inner_text("#user-name")
    assert "+47******32" in page.inner_text("#verified-device")

    page.click("#nav-phones")
    page.fill("#add-phone-form input[name$='name']", "Travel phone")
    page.fill("#add-phone-form input[name$='number']", "+46 70 123 45 67")
    page.click("#add-phone")
    device = SMSDevice.objects.get(number=NEW_NUMBER)
    page.wait_for_selector(f"#confirm-form-{device.pk}")
    shot(page, "05-new-number-added")
    assert not device.confirmed

    new_code = code_from_inbox(page, sandbox, NEW_NUMBER, "06-inbox-new-number")
    page.fill(f"#confirm-form-{device.pk} input[name$='code']", new_code)
    page.click(f"#confirm-{device.pk}")
    page.wait_for_selector(f"#phone-{device.pk} .badge.ok")
    shot(page, "07-new-number-confirmed")
    device.refresh_from_db()
    assert device.confirmed


def test_fallback_is_invisible_to_the_user(browser_page, site, sandbox):
    sandbox.set_fault("signicat", "500")
    page = browser_page
    page.goto(site + "/accounts/login/")
    page.fill("#id_username", "walter")
    page.fill("#id_password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(re.compile(r"/accounts/verify/"))
    page.click("#send-code")
    page.wait_for_selector("#id_otp_token")
    assert [m["vendor"] for m in sandbox.messages] == ["zignsec"]
    page.fill("#id_otp_token", code_from_inbox(page, sandbox, NUMBER, "08-inbox-after-fallback"))
    page.click("#verify")
    page.wait_for_selector("#verified-device")
    shot(page, "09-protected-page-after-fallback")
