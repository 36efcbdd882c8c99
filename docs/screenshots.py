"""Retake the README's screenshots (docs/_static/*.png) from a running `make demo`.

    make demo                                  # in one terminal (DEMO_SMS=sandbox, the default)
    .venv/bin/python docs/screenshots.py       # in another; needs Debian's chromium

SITE and SANDBOX (environment) move it to another `manage.py demo --addrport` and
DEMO_SANDBOX_PORT. It signs in as the demo user, has a code sent through Signicat,
then switches Signicat off on the sandbox's inbox page and, once the demo's 30-second
cooldown has passed, has a new code sent: it arrives through ZignSec.
"""

import os
import pathlib
import shutil
import time

from playwright.sync_api import sync_playwright

SITE = os.environ.get("SITE", "http://127.0.0.1:8000")
SANDBOX = os.environ.get("SANDBOX", "http://127.0.0.1:8025")
OUT = pathlib.Path(__file__).resolve().parent / "_static"
COOLDOWN = 31  # the demo's OTP_SMS_COOLDOWN_DURATION, and a second


def main() -> None:
    chromium = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--headless=new", "--no-sandbox"])
        page = browser.new_page(viewport={"width": 900, "height": 620}, device_scale_factor=1)
        page.goto(SITE + "/accounts/login/")
        page.fill("#id_username", "demo")
        page.fill("#id_password", "sms-demo-password")
        page.click("#sign-in")
        page.wait_for_url("**/sms/verify/**")
        page.click("#sms-send")
        page.wait_for_selector("#id_otp_token")
        page.screenshot(path=str(OUT / "sms-step.png"))

        inbox = browser.new_page(viewport={"width": 900, "height": 400}, device_scale_factor=1)
        inbox.goto(SANDBOX + "/")
        inbox.locator(".vendor", has_text="signicat").get_by_role("button", name="Switch off").click()
        time.sleep(COOLDOWN)
        page.click("#sms-send")
        page.wait_for_selector("#id_otp_token")
        inbox.goto(SANDBOX + "/")
        inbox.screenshot(path=str(OUT / "sandbox-fallback.png"))
        inbox.locator(".vendor", has_text="signicat").get_by_role("button", name="Switch on").click()
        browser.close()


if __name__ == "__main__":
    main()
