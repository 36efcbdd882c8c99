"""``manage.py demo``: prepare the database and demo login, then serve the site."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.demo_user import DEMO_NUMBER, DEMO_PASSWORD, DEMO_USERNAME, ensure_demo_user
from django_sms_gateway.conf import settings as sms_settings

DEFAULT_ADDRPORT = "127.0.0.1:8000"


class Command(BaseCommand):
    help = (
        "Run the example site: migrate the SQLite database, create or update the demo user and its "
        "phone, start the loopback SMS vendor sandbox (DEMO_SMS=sandbox), and serve on 127.0.0.1:8000."
    )
    requires_system_checks: list[str] = []  # runserver runs them

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addrport", default=DEFAULT_ADDRPORT,
                            help=f"address and port of the site (default {DEFAULT_ADDRPORT})")
        parser.add_argument("--no-sandbox", action="store_true",
                            help="do not start the vendor sandbox (run it yourself with "
                                 "python -m sms_sandbox)")
        parser.add_argument("--setup-only", action="store_true",
                            help="migrate and prepare the demo user, then exit without serving")
        parser.add_argument("--username", default=DEMO_USERNAME)
        parser.add_argument("--password", default=DEMO_PASSWORD)
        parser.add_argument("--number", default=DEMO_NUMBER, help="the demo user's mobile number")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", verbosity=0, interactive=False)
        try:
            login = ensure_demo_user(options["username"], options["password"], options["number"])
        except ValidationError as exc:
            raise CommandError(f"--number {options['number']!r}: {' '.join(exc.messages)}") from None
        if options["setup_only"]:
            self.stdout.write(f"Demo user {login.username!r} is ready, with phone {login.device.masked_number}.")
            return

        sandbox = None
        if settings.DEMO_SMS == "sandbox" and not options["no_sandbox"]:
            sandbox = self.start_sandbox()
        sweeping = threading.Event()
        if settings.DEMO_SMS == "sandbox":
            threading.Thread(target=_sweep, args=(sweeping,), name="demo-smsfailover", daemon=True).start()
        self.stdout.write(self.banner(login, options["addrport"]))
        try:
            call_command("runserver", options["addrport"], use_reloader=False)
        finally:
            sweeping.set()
            if sandbox is not None:
                sandbox.stop()

    def start_sandbox(self) -> Any:
        """Start the sandbox on its port, or reuse a sandbox already there.

        Returns the started sandbox (to stop later), or None when one was
        already running. Raises ``CommandError`` when something else holds the port.
        """
        from sms_sandbox import Sandbox

        port = settings.DEMO_SANDBOX_PORT
        try:
            return Sandbox("127.0.0.1", port).start()
        except OSError as exc:
            if _is_sandbox(settings.DEMO_SANDBOX_URL):
                self.stdout.write(self.style.WARNING(
                    f"A vendor sandbox is already running on {settings.DEMO_SANDBOX_URL}; using it."))
                return None
            raise CommandError(
                f"Port {port} on 127.0.0.1 is taken ({exc.strerror or exc}), so the vendor sandbox cannot start. "
                f"Stop whatever uses it, pick another port with DEMO_SANDBOX_PORT=8026, "
                f"or use the console backend with DEMO_SMS=console."
            ) from None

    def banner(self, login: Any, addrport: str) -> str:
        site = _site_url(addrport)
        rule = "=" * 72
        lines = [
            rule,
            "django-otp-sms-gateway example site",
            "",
            f"  Sign in:   {site}/accounts/login/",
            f"  Username:  {login.username}",
            f"  Password:  {login.password}",
            f"  Phone:     {login.device.number}",
            "",
        ]
        if settings.DEMO_SMS == "sandbox":
            inbox = f"{settings.DEMO_SANDBOX_URL}/"
            lines += [
                "  SMS:       Signicat first, ZignSec second, both imitated by the local",
                f"             vendor sandbox. Codes arrive in its inbox: {inbox}",
                "             (and in this terminal only if both vendors fail).",
                "  Fallback:  on the inbox page press 'Switch off' next to signicat,",
                "             ask for a new code, and watch it come through zignsec.",
                "  Silent:    also press 'Silent' next to zignsec (it accepts the SMS and",
                "             never delivers it), ask for a new code: after "
                f"{sms_settings.OTP_SMS_DELIVERY_DEADLINE:g} s",
                "             without a delivery receipt it comes through twilio.",
            ]
        else:
            lines += [
                "  SMS:       console backend: each code is printed in this terminal.",
                "             (DEMO_SMS=sandbox uses Signicat and ZignSec via the local sandbox.)",
            ]
        lines += ["", "  Press Ctrl-C to stop.", rule, ""]
        return "\n".join(lines)


def _sweep(stop: threading.Event, every: float = 2.0) -> None:
    """``manage.py smsfailover``'s sweep every ``every`` seconds until ``stop``
    is set: the demo's stand-in for cron or a task worker."""
    from django.db import close_old_connections

    from django_sms_gateway.failover import sweep

    while not stop.wait(every):
        try:
            sweep()
        except Exception as exc:  # a demo's background helper: say so and go on
            print(f"demo: smsfailover sweep failed: {type(exc).__name__}")  # noqa: T201
        finally:
            close_old_connections()


def _site_url(addrport: str) -> str:
    host, _, port = addrport.rpartition(":")
    return f"http://{host or '127.0.0.1'}:{port}"


def _is_sandbox(url: str) -> bool:
    """True when ``url`` answers like our vendor sandbox (loopback only, short timeout)."""
    try:
        with urllib.request.urlopen(f"{url}/_sandbox/state", timeout=2) as response:  # noqa: S310 (loopback URL)
            return isinstance(json.load(response), dict)
    except (OSError, ValueError, urllib.error.URLError):
        return False
