"""Risk checks before a send (``OTP_SMS_RISK_CHECKS``): SIM swap, line type, or a site's own.

:meth:`SMSDevice.send_code <django_sms_gateway.models.SMSDevice.send_code>`
calls :func:`run_risk_checks` before the sending limits and the claim of a
cooldown slot, and only when ``OTP_SMS_RISK_CHECKS`` is set: a site without
checks never imports this package.

The contract of a check (see docs/risk-checks.md):

- A check is a :class:`RiskCheck` subclass, built once per process from its
  entry (``NAME``, ``OPTIONS`` validated against its :attr:`RiskCheck.options`,
  ``TIMEOUT``) and shared by every thread.
- :meth:`RiskCheck.check` gets the number (E.164), the device (or None) and
  the request (or None) and ``timeout``, the seconds it may take: its own
  ``TIMEOUT`` or what is left of ``OTP_SMS_CHALLENGE_BUDGET``, whichever is
  less. It returns a :class:`Verdict`: :func:`allow` or :func:`refuse` with
  a short reason of ours (no vendor text, no number).
- When its lookup cannot answer it raises a
  :class:`~django_sms_gateway.exceptions.GatewayError` (the HTTP base of the
  backends does so for a timeout, a refused connection, a 5xx, refused
  credentials, an unreadable answer). The entry's ``FAIL_CLOSED`` then
  decides: False (the default) lets the send go on, True refuses it. Any
  other exception is a bug in the check, logged with its traceback and
  treated the same way.

The checks run one after the other, in the order of the setting, and the
first refusal ends the run: :class:`~django_sms_gateway.exceptions.RiskCheckRefused`
is raised, after :data:`~django_sms_gateway.signals.risk_check_refused`.
Their time comes out of the challenge's budget: :func:`run_risk_checks`
returns the seconds they took, which the walk over the gateways no longer
gets. Every outcome is logged with the masked number only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from .. import limits, signals
from ..backends.base import BaseBackend, Option
from ..checks import E047, E048
from ..conf import RiskCheckSettings, settings
from ..exceptions import ConfigurationError, GatewayError, RiskCheckRefused
from ..phone import mask_number

__all__ = [
    "Option", "RiskCheck", "Verdict", "allow", "build_check", "refuse", "registry", "run_risk_checks",
]

logger = logging.getLogger("django_sms_gateway")

#: Below this many seconds left of the budget, a check is not started: its lookup counts as unable to answer.
MIN_CHECK_SECONDS = 0.05
#: Settings whose change rebuilds the checks.
WATCHED_SETTINGS = frozenset({"OTP_SMS_RISK_CHECKS", "DEBUG"})
#: A dotted path to a shipped check, named in hints.
EXAMPLE_CHECK = "django_sms_gateway.risk.camara.CamaraSimSwapCheck"


class Verdict(NamedTuple):
    """What a check decided: ``allowed``, and ``reason``, a short phrase of
    ours for logs and signals (never vendor text or a number)."""

    allowed: bool
    reason: str = ""


def allow(reason: str = "") -> Verdict:
    """The verdict that lets the send go on."""
    return Verdict(True, reason)


def refuse(reason: str) -> Verdict:
    """The verdict that refuses the send, saying why (for logs and signals)."""
    return Verdict(False, reason)


class RiskCheck(BaseBackend):
    """Base of every risk check.

    A subclass declares :attr:`options` (name -> :class:`Option`, validated
    when the check is built, as a backend's are) and implements
    :meth:`check`. The shipped checks also build on the backends' HTTP base
    (:class:`~django_sms_gateway.backends.http.HTTPBackend`: its session,
    the deadline of every call, statuses mapped to our errors, its JSON
    readers), and so may a site's. ``self.alias`` is the entry's ``NAME``,
    ``self.timeout`` its ``TIMEOUT`` and ``self.config`` its options.
    """

    options: ClassVar[Mapping[str, Option]] = {}
    #: The entry's place in ``OTP_SMS_RISK_CHECKS``, for error messages.
    where: str = "OTP_SMS_RISK_CHECKS"

    def __init__(self, name: str, options: Mapping[str, Any] | None = None, *, timeout: float = 2.0,
                 where: str = "OTP_SMS_RISK_CHECKS") -> None:
        self.where = where
        super().__init__(name, options, timeout=timeout)

    def check(self, number: str, *, device: Any, request: Any, timeout: float) -> Verdict:
        """Decide on a send to ``number`` (E.164) within ``timeout`` seconds:
        :func:`allow` or :func:`refuse`; raise a ``GatewayError`` when the
        lookup cannot answer."""
        raise NotImplementedError

    def config_error(self, problem: str, *, check_id: str = E048) -> ConfigurationError:
        return ConfigurationError(
            f"{self.where} ({type(self).__name__}): {problem}", check_id=check_id, obj=self.where,
            hint=f"Fix {self.where}['OPTIONS']. {self.options_hint()}",
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.alias!r}>"


def build_check(entry: RiskCheckSettings) -> RiskCheck:
    """The check of one validated entry: its class imported (E047) and given
    its options, which it validates (E048)."""
    try:
        check_class = import_string(entry.backend)
    except ImportError as exc:
        raise ConfigurationError(
            f"{entry.where}: cannot import BACKEND {entry.backend!r}: {exc}", check_id=E047, obj=entry.where,
            hint=f"Set BACKEND to the dotted path of a risk check class, such as {EXAMPLE_CHECK!r}, and make "
            "sure its package is installed.",
        ) from exc
    if not (isinstance(check_class, type) and issubclass(check_class, RiskCheck)):
        raise ConfigurationError(
            f"{entry.where}: BACKEND {entry.backend!r} is not a risk check class.", check_id=E047, obj=entry.where,
            hint="Point BACKEND at a subclass of django_sms_gateway.risk.RiskCheck, such as "
            f"{EXAMPLE_CHECK!r}.",
        )
    return check_class(entry.name, entry.options, timeout=entry.timeout, where=entry.where)


class _Registry:
    """The configured checks, built on first use and shared by all threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._built: tuple[tuple[RiskCheckSettings, RiskCheck], ...] | None = None

    def all(self) -> tuple[tuple[RiskCheckSettings, RiskCheck], ...]:
        built = self._built
        if built is None:
            with self._lock:
                if self._built is None:
                    self._built = tuple((entry, build_check(entry)) for entry in settings.OTP_SMS_RISK_CHECKS)
                built = self._built
        return built

    def reset(self) -> None:
        """Close and forget the checks; they are rebuilt on next use."""
        with self._lock:
            old, self._built = self._built, None
        for _entry, check in old or ():
            check.close()


registry = _Registry()


@receiver(setting_changed)
def _reset_on_setting_change(*, setting: str, **kwargs: Any) -> None:
    if setting in WATCHED_SETTINGS:
        registry.reset()


def run_risk_checks(number: str, *, device: Any = None, request: Any = None) -> float:
    """Run every check of ``OTP_SMS_RISK_CHECKS`` on a send to ``number``
    (E.164), in order, within ``OTP_SMS_CHALLENGE_BUDGET``; return the
    seconds they took. Raises :class:`~django_sms_gateway.exceptions.RiskCheckRefused`
    at the first refusal (and for a lookup that could not answer, when its
    entry has ``FAIL_CLOSED``). ``request`` defaults to the one the
    middleware keeps."""
    started = time.monotonic()
    deadline = started + settings.OTP_SMS_CHALLENGE_BUDGET
    masked = mask_number(number)
    if request is None:
        request = limits.current_request()
    for entry, check in registry.all():
        left = deadline - time.monotonic()
        began = time.monotonic()
        try:
            if left < MIN_CHECK_SECONDS:
                raise check.error(GatewayError, "time budget spent")
            verdict = check.check(number, device=device, request=request, timeout=min(check.timeout, left))
        except GatewayError as err:
            _unavailable(entry, masked, err.reason, time.monotonic() - began, device)
            continue
        except Exception as exc:  # a bug in a check is a lookup that could not answer
            logger.exception("SMS risk check %r raised an unexpected %s", entry.name, type(exc).__name__)
            _unavailable(entry, masked, f"check error ({type(exc).__name__})", time.monotonic() - began, device)
            continue
        elapsed = time.monotonic() - began
        if not isinstance(verdict, Verdict):
            logger.error("SMS risk check %r returned %s, not a Verdict", entry.name, type(verdict).__name__)
            _unavailable(entry, masked, "no verdict", elapsed, device)
            continue
        if verdict.allowed:
            logger.info("SMS risk check %r allowed the send to %s in %.3fs (%s)", entry.name, masked, elapsed,
                        verdict.reason or "no reason given")
            continue
        logger.warning("SMS to %s refused by risk check %r in %.3fs: %s", masked, entry.name, elapsed, verdict.reason)
        _refuse(entry, masked, verdict.reason, device)
    return time.monotonic() - started


def _unavailable(entry: RiskCheckSettings, masked: str, reason: str, elapsed: float, device: Any) -> None:
    """A lookup that could not answer: logged, signalled, and a refusal when the entry fails closed."""
    outcome = "refusing the send (FAIL_CLOSED)" if entry.fail_closed else "sending anyway (fail open)"
    logger.warning("SMS risk check %r could not answer for %s after %.3fs (%s): %s", entry.name, masked, elapsed,
                   reason, outcome)
    signals.risk_check_unavailable.send(sender=RiskCheck, check=entry.name, number=masked, reason=reason,
                                        fail_closed=entry.fail_closed)
    if entry.fail_closed:
        _refuse(entry, masked, f"lookup unavailable ({reason})", device)


def _refuse(entry: RiskCheckSettings, masked: str, reason: str, device: Any) -> None:
    signals.risk_check_refused.send(sender=RiskCheck, check=entry.name, number=masked, reason=reason, device=device)
    raise RiskCheckRefused(entry.name, reason)

