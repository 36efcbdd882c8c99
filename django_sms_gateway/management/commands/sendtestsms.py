"""``manage.py sendtestsms NUMBER [--gateway ALIAS | --all]``: check the gateways for real.

Sends a clearly labelled test text (never a login code) through the gateway
chain, one gateway, or each gateway in turn, and prints every attempt:
gateway, outcome, time and reason. Exits non-zero when nothing was delivered.

``manage.py sendtestsms --check [--gateway ALIAS]`` sends nothing: it asks
each gateway's vendor something harmless that tells whether it accepts our
credentials (:meth:`~django_sms_gateway.backends.base.BaseBackend.check_credentials`)
and prints one line per gateway: credentials accepted, refused, could not be
checked (the vendor could not be reached or its answer did not tell), or no
check available (the vendor has no such question; only a real send can tell).
A deploy can gate on its exit status: 0 when no gateway was refused or
unreached, 1 when a vendor refused credentials (or ``SMS_GATEWAYS`` is
wrong), 2 for a wrong command line, 3 when a vendor could not be asked and
none refused.

Through the chain, gateways whose circuit breaker is open are skipped, as at
login. ``--gateway`` and ``--all`` test a gateway even while its circuit is
open (and say so); every outcome still counts for the breaker, so a delivery
closes the circuit.

It is an operator's tool: the sending limits (``OTP_SMS_LIMITS``, allowlists)
do not apply to it and it does not count against them.
"""

from __future__ import annotations

from itertools import cycle, islice
from typing import Any

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext

from ... import breaker
from ...backends.base import BaseBackend, CredentialCheck, SMSMessage
from ...conf import settings
from ...dispatch import gateways, send_message
from ...exceptions import Attempt, DeliveryFailed, GatewayError
from ...phone import mask_number, normalize_number
from ...text import compile_template

#: How each credential check outcome is printed.
CHECK_LABELS = {
    "accepted": "credentials accepted",
    "refused": "credentials refused",
    "unchecked": "could not be checked",
    "unsupported": "no check available",
}
#: Exit statuses (0: nothing failed): a refusal, a misconfiguration or nothing delivered; a wrong
#: command line (as argparse's own errors); a vendor that could not be asked, none refusing (``--check``).
REFUSED = 1
USAGE = 2
UNREACHED = 3

#: Stands in for the code: the same digits every time, so nobody mistakes it for one.
TEST_DIGITS = "1234567890"


def build_test_message(recipient: str) -> SMSMessage:
    """The test text for ``recipient`` (E.164), in the active language.

    It goes through the same template machinery as a code, so vendors that
    render their own text (vendor-held templates, vendor-made codes) get it too.
    """
    length = settings.OTP_SMS_TOKEN_LENGTH
    token = "".join(islice(cycle(TEST_DIGITS), length))
    site_name = str(settings.OTP_SMS_SITE_NAME) or "django-otp-sms-gateway"
    validity = settings.OTP_SMS_TOKEN_VALIDITY
    template = compile_template(gettext("Test message from {site_name}: {token}. This is not a login code."))
    return SMSMessage(
        recipient=recipient,
        text=template.render(token, site_name=site_name),
        code=token,
        validity=validity,
        template=template,
        site_name=site_name,
    )


class Command(BaseCommand):
    help = (
        "Send a test SMS (not a login code) through SMS_GATEWAYS and show each attempt: "
        "gateway, outcome, time and reason. Exits non-zero when nothing was delivered. "
        "Not subject to the sending limits (OTP_SMS_LIMITS). "
        "With --check, nothing is sent: each gateway's credentials are checked; "
        "the exit status is 1 when any are refused, 3 when a vendor could not be asked."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "number", nargs="?", help="Mobile number to send to, in international format (+4798765432)."
        )
        parser.add_argument(
            "--check", action="store_true",
            help="Send nothing: ask each gateway (or --gateway) whether its vendor accepts the credentials.",
        )
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--gateway", metavar="ALIAS", help="Send through this gateway only.")
        which.add_argument(
            "--all", action="store_true", help="Send through every gateway in turn (one message each)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        typed = options["number"]
        if options["check"] and typed is not None:
            raise CommandError("--check sends nothing: give no number.", returncode=USAGE)
        if not options["check"] and typed is None:
            raise CommandError("Give the number to send the test SMS to, or --check to send nothing.", returncode=USAGE)
        try:
            backends = gateways.all()
        except ImproperlyConfigured as exc:
            raise CommandError(f"SMS_GATEWAYS is misconfigured: {exc} (run manage.py check for hints)") from None
        if options["gateway"] and options["gateway"] not in gateways:
            known = ", ".join(b.alias for b in backends)
            raise CommandError(
                f"No gateway {options['gateway']!r} in SMS_GATEWAYS (configured: {known}).", returncode=USAGE
            )
        if options["check"]:
            self._check_credentials([gateways[options["gateway"]]] if options["gateway"] else backends)
            return
        try:
            recipient = normalize_number(typed, settings.OTP_SMS_DEFAULT_REGION)
        except ValidationError as exc:
            raise CommandError(f"Cannot send to {typed!r}: {' '.join(exc.messages)}", returncode=USAGE) from None

        runs: list[list[BaseBackend] | None]
        if options["gateway"]:
            alias = options["gateway"]
            runs = [[gateways[alias]]]
            plan = f"gateway {alias!r}"
        elif options["all"]:
            runs = [[backend] for backend in backends]
            plan = "each gateway in turn: " + ", ".join(b.alias for b in backends)
        else:
            runs = [None]
            plan = "the chain: " + " -> ".join(b.alias for b in backends)

        message = build_test_message(recipient)
        self.stdout.write(f"Test SMS to {mask_number(recipient)} through {plan}")
        bypass = runs != [None]
        chosen = [backend for run in runs if run for backend in run] if bypass else backends
        for state in breaker.states(chosen).values():
            if state.state in ("open", "half-open"):
                action = ("testing it anyway (outcome still counts)" if bypass
                          else "skipped here as at login; test it with --gateway " + state.alias)
                self.stdout.write(self.style.WARNING(
                    f"Circuit breaker of {state.alias!r} is {state.state} after {state.failures} failures: {action}."
                ))
        self.stdout.write(f"{'gateway':<20} {'outcome':<8} {'time':>9}  reason")
        delivered: list[str] = []
        for run in runs:
            try:
                delivery = send_message(message, backends=run, bypass_breaker=bypass)
            except DeliveryFailed as failure:
                attempts = failure.attempts
            else:
                attempts = delivery.attempts
                delivered.append(delivery.alias)
            for attempt in attempts:
                self._show(attempt)

        if not delivered:
            raise CommandError("Nothing was delivered: every gateway tried failed or was skipped.")
        tried = len(runs)
        self.stdout.write(
            self.style.SUCCESS(
                f"Delivered by {', '.join(delivered)}"
                + (f" ({len(delivered)} of {tried} gateways)." if tried > 1 else ".")
            )
        )

    def _show(self, attempt: Attempt) -> None:
        style = {"sent": self.style.SUCCESS, "failed": self.style.ERROR}.get(attempt.outcome, self.style.WARNING)
        elapsed = f"{attempt.elapsed * 1000:.0f} ms"
        reason = attempt.reason + (f" (ref {attempt.reference})" if attempt.reference else "")
        self.stdout.write(style(f"{attempt.alias:<20} {attempt.outcome:<8} {elapsed:>9}  {reason}"))

    def _check_credentials(self, backends: list[BaseBackend]) -> None:
        """One line per gateway, then a summary; a CommandError with the
        status :data:`REFUSED` or :data:`UNREACHED` when any was refused or could not be asked."""
        self.stdout.write("Credential check (no SMS is sent): " + ", ".join(b.alias for b in backends))
        by_outcome: dict[str, list[str]] = {outcome: [] for outcome in CHECK_LABELS}
        for backend in backends:
            try:
                result = backend.check_credentials(timeout=backend.timeout)
            except GatewayError as exc:
                result = CredentialCheck("unchecked", f"the vendor did not answer: {exc.reason}")
            by_outcome[result.outcome].append(backend.alias)
            styles = {"accepted": self.style.SUCCESS, "refused": self.style.ERROR, "unchecked": self.style.ERROR}
            style = styles.get(result.outcome, self.style.WARNING)
            self.stdout.write(style(f"{backend.alias:<20} {CHECK_LABELS[result.outcome]:<21} {result.detail}"))
        refused, unchecked, unsupported = by_outcome["refused"], by_outcome["unchecked"], by_outcome["unsupported"]
        problems = []
        if refused:
            problems.append(f"Credentials refused by: {', '.join(refused)}.")
        if unchecked:
            problems.append(
                f"Could not check {', '.join(unchecked)}: the vendor could not be reached or did not answer "
                "(see above); try again."
            )
        if problems:
            raise CommandError(" ".join(problems), returncode=REFUSED if refused else UNREACHED)
        if unsupported:
            self.stdout.write(self.style.WARNING(
                f"No credentials were refused; only a real send can tell for: {', '.join(unsupported)}."
            ))
        else:
            self.stdout.write(self.style.SUCCESS("Every gateway accepted its credentials."))
