"""The ``SMS_GATEWAYS`` registry and the walk that sends one code through it.

The registry is like Django's ``caches`` handler: entries have ``BACKEND``
(dotted path) and ``OPTIONS``, plus ``COUNTRIES``, ``TIMEOUT`` and the
breaker's ``BREAKER_THRESHOLD`` / ``BREAKER_COOLOFF`` (read and defaulted
in :mod:`.conf`); instances are built on first use, shared by all threads,
and rebuilt when a setting they depend on changes.

The walk sends the same code to every gateway it tries, in order. Gateways
whose ``COUNTRIES`` exclude the number are skipped, and so are gateways whose
circuit breaker is open (:mod:`.breaker`; when all are open, the one whose
cool-off ends first is tried). The first gateway that accepts the message
ends the walk; a failure whose ``retry_next`` is false ends it too. Nothing
here touches the database: the device writes before and after the walk.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import django.conf
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import translation
from django.utils.module_loading import import_string

from . import signals
from .backends.base import BaseBackend, SendResult, SMSMessage
from .backends.console import ConsoleBackend
from .backends.locmem import LocmemBackend
from .breaker import Circuit
from .checks import E002, E003, E004, E015, W001, W005, W006
from .conf import EXAMPLE_BACKEND, GatewaySettings, Problem, gateway_settings, settings
from .exceptions import (
    Attempt,
    ConfigurationError,
    ConfigurationWarning,
    DeliveryFailed,
    GatewayError,
    GatewayTimeout,
    GatewayUnavailable,
    NoGatewayForNumber,
    RecipientNotReachable,
)
from .phone import mask_number, region_of
from .text import TemplateError, compile_template, origin_line_problem, whole_minutes

logger = logging.getLogger("django_sms_gateway")

#: Settings whose change rebuilds the backends.
WATCHED_SETTINGS = frozenset(
    {"SMS_GATEWAYS", "OTP_SMS_GATEWAY_TIMEOUT", "OTP_SMS_SENDER", "OTP_SMS_BREAKER_THRESHOLD",
     "OTP_SMS_BREAKER_COOLOFF", "DEBUG"}
)


# -- the registry ------------------------------------------------------------------------------------


def build_backend(alias: str, entry: Any) -> BaseBackend:
    """Build one backend from its ``SMS_GATEWAYS`` entry, or raise
    :class:`~django_sms_gateway.exceptions.ConfigurationError` naming the
    alias and what is wrong, with the id of the check that reports it."""
    return backend_from(gateway_settings(alias, entry, settings))


def backend_from(gateway: GatewaySettings) -> BaseBackend:
    """The backend of one validated entry: its class imported (E004) and
    given its options, which it validates itself (E005). A backend with a
    ``sender`` option gets the entry's sender (``OTP_SMS_SENDER`` when its
    ``OPTIONS`` name none)."""
    where = f"SMS_GATEWAYS[{gateway.alias!r}]"
    try:
        backend_class = import_string(gateway.backend)
    except ImportError as exc:
        raise ConfigurationError(
            f"{where}: cannot import BACKEND {gateway.backend!r}: {exc}", check_id=E004, obj=where,
            hint=f"Set BACKEND to the dotted path of a backend class, such as {EXAMPLE_BACKEND!r}, "
            "and make sure its package is installed.",
        ) from exc
    if not (isinstance(backend_class, type) and issubclass(backend_class, BaseBackend)):
        raise ConfigurationError(
            f"{where}: BACKEND {gateway.backend!r} is not a django_sms_gateway backend class.", check_id=E004,
            obj=where, hint="Point BACKEND at a subclass of django_sms_gateway.backends.base.BaseBackend, "
            f"such as {EXAMPLE_BACKEND!r}.",
        )
    options: Mapping[str, Any] = gateway.options
    if "sender" in backend_class.options and gateway.sender is not None:
        options = {**options, "sender": gateway.sender}
    backend = backend_class(gateway.alias, options, countries=gateway.countries, timeout=gateway.timeout)
    backend.breaker_threshold, backend.breaker_cooloff = gateway.breaker
    return backend


class GatewayHandler:
    """Ordered access to the configured backends: ``gateways.all()``,
    ``gateways["alias"]``, ``for backend in gateways``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._backends: dict[str, BaseBackend] | None = None

    def _load(self) -> dict[str, BaseBackend]:
        backends = self._backends
        if backends is None:
            with self._lock:
                if self._backends is None:
                    self._backends = {alias: backend_from(gateway) for alias, gateway in settings.gateways.items()}
                backends = self._backends
        return backends

    def all(self) -> list[BaseBackend]:
        return list(self._load().values())

    def __iter__(self) -> Iterator[BaseBackend]:
        return iter(self.all())

    def __getitem__(self, alias: str) -> BaseBackend:
        try:
            return self._load()[alias]
        except KeyError:
            raise KeyError(f"no SMS gateway {alias!r} in SMS_GATEWAYS") from None

    def __contains__(self, alias: object) -> bool:
        return alias in self._load()

    def reset(self) -> None:
        """Close and forget the backends; they are rebuilt on next use."""
        with self._lock:
            old, self._backends = self._backends, None
        for backend in (old or {}).values():
            backend.close()


gateways = GatewayHandler()


@receiver(setting_changed)
def _reset_on_setting_change(*, setting: str, **kwargs: Any) -> None:
    if setting in WATCHED_SETTINGS:
        gateways.reset()


# -- the walk ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """The outcome of a successful :func:`send_code`."""

    backend: BaseBackend
    result: SendResult
    attempts: tuple[Attempt, ...]
    #: ISO 3166 region of the recipient (None when unknown).
    region: str | None = None

    @property
    def alias(self) -> str:
        return self.backend.alias

    @property
    def vendor_verifies(self) -> bool:
        return self.backend.verifies_codes


def build_message(recipient: str, code: str, *, validity: int | None = None) -> SMSMessage:
    """The :class:`SMSMessage` for ``code``, rendered in the active language."""
    validity = settings.OTP_SMS_TOKEN_VALIDITY if validity is None else validity
    minutes = whole_minutes(validity)
    template = compile_template(settings.OTP_SMS_MESSAGE.source(minutes), settings.origin)
    site_name = settings.OTP_SMS_SITE_NAME
    return SMSMessage(
        recipient=recipient,
        text=template.render(code, minutes=minutes, site_name=site_name),
        code=code,
        validity=validity,
        template=template,
        site_name=site_name,
    )


def send_code(recipient: str, code: str, *, validity: int | None = None) -> Delivery:
    """Deliver ``code`` to ``recipient`` (E.164) through the first gateway that
    takes it. Raises :class:`DeliveryFailed` (or a subclass) with every attempt."""
    message = build_message(recipient, code, validity=validity)
    return send_message(message)


def send_message(
    message: SMSMessage, *, backends: Sequence[BaseBackend] | None = None, bypass_breaker: bool = False,
    spent: float = 0.0,
) -> Delivery:
    """Walk ``backends`` (default: every gateway in ``SMS_GATEWAYS``, in order)
    until one accepts ``message``. Raises :class:`DeliveryFailed` (or a
    subclass) with every attempt when none does.

    ``bypass_breaker`` tries gateways whose circuit is open (an operator's
    test); their outcomes still count for the breaker. ``spent`` is the
    seconds of ``OTP_SMS_CHALLENGE_BUDGET`` the challenge already used (its
    risk checks), which the walk does not get."""
    deadline = time.monotonic() + settings.OTP_SMS_CHALLENGE_BUDGET - spent
    region = region_of(message.recipient)
    masked = mask_number(message.recipient)
    attempts: list[Attempt] = []
    backends = gateways.all() if backends is None else list(backends)
    if not any(b.serves(region) for b in backends):
        attempts = [Attempt(b.alias, "skipped", f"does not serve {region or 'this region'}") for b in backends]
        logger.warning("SMS to %s not sent: no gateway serves region %s", masked, region)
        raise NoGatewayForNumber(attempts)

    circuit = Circuit.read([b for b in backends if b.serves(region)], bypass=bypass_breaker)
    for backend in backends:
        if not backend.serves(region):
            attempts.append(Attempt(backend.alias, "skipped", f"does not serve {region}"))
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            attempts.append(Attempt(backend.alias, "skipped", "time budget spent"))
            continue
        skipped = circuit.skip_reason(backend, region)
        if skipped is not None:
            attempts.append(Attempt(backend.alias, "skipped", skipped))
            logger.info("SMS gateway %r skipped for %s (%s)", backend.alias, masked, skipped)
            continue
        started = time.monotonic()
        try:
            result = _call(backend, message, min(backend.timeout, remaining))
        except GatewayError as err:
            elapsed = time.monotonic() - started
            attempts.append(Attempt(backend.alias, "failed", err.reason, elapsed, err))
            logger.warning(
                "SMS gateway %r failed for %s after %.3fs: %s", backend.alias, masked, elapsed, err.reason
            )
            signals.gateway_failed.send(
                sender=type(backend), alias=backend.alias, number=masked, reason=err.reason, error=err
            )
            circuit.record(backend, err, cut_short=isinstance(err, GatewayTimeout) and remaining < backend.timeout)
            if not err.retry_next:
                failure: DeliveryFailed = RecipientNotReachable(attempts)
                _announce_failure(failure, masked)
                raise failure from err
            continue
        elapsed = time.monotonic() - started
        circuit.record(backend)
        attempts.append(Attempt(backend.alias, "sent", "accepted", elapsed, reference=result.reference))
        logger.info("SMS sent to %s via %r in %.3fs", masked, backend.alias, elapsed)
        return Delivery(backend, result, tuple(attempts), region)

    failure = DeliveryFailed(attempts)
    _announce_failure(failure, masked)
    raise failure


def _call(backend: BaseBackend, message: SMSMessage, timeout: float) -> SendResult:
    try:
        return backend.send(message, timeout=timeout)
    except GatewayError as err:
        if err.alias is None:
            err.alias = backend.alias
        raise
    except Exception as exc:  # a bug in a backend must not end the walk
        logger.exception("SMS gateway %r raised an unexpected %s", backend.alias, type(exc).__name__)
        raise GatewayUnavailable(f"backend error ({type(exc).__name__})", alias=backend.alias) from exc


def _announce_failure(failure: DeliveryFailed, masked: str) -> None:
    logger.error("SMS to %s not delivered: %s", masked, failure.summary())
    aliases = tuple(a.alias for a in failure.attempts if a.outcome == "failed")
    signals.delivery_failed.send(
        sender=DeliveryFailed, aliases=aliases, number=masked, attempts=failure.attempts, error=failure
    )


# -- what only a start-up check reports -----------------------------------------------------------


def development_backend_problems(backends: Iterable[Any]) -> list[Problem]:
    """With ``DEBUG = False``, a gateway of ``SMS_GATEWAYS`` whose backend
    sends nothing (console, locmem) is reported (W001). The implicit console
    backend is W015's."""

    if django.conf.settings.DEBUG or settings.raw("SMS_GATEWAYS") is None:
        return []
    return [
        ConfigurationWarning(
            f"SMS gateway {backend.alias!r} uses {type(backend).__name__}, which sends nothing, while DEBUG is "
            "False.",
            check_id=W001,
            hint=f"Configure a vendor backend in SMS_GATEWAYS for production (for example {EXAMPLE_BACKEND!r}).",
            obj=f"SMS_GATEWAYS[{backend.alias!r}]",
        )
        for backend in backends
        if isinstance(backend, ConsoleBackend | LocmemBackend)
    ]


def message_sources() -> dict[str, list[str]]:
    """Every form of ``OTP_SMS_MESSAGE`` each enabled language renders: text -> language codes.

    A lazily translated message is rendered in every language of
    ``LANGUAGES`` (and ``LANGUAGE_CODE``); a plain string only once. Each
    plural form a number of minutes can pick is a text of its own. Raises
    ``ConfigurationError`` (E002) when the setting is none of the kinds
    :func:`~django_sms_gateway.conf.message_text` reads.
    """

    message = settings.OTP_SMS_MESSAGE
    site = django.conf.settings
    default = str(site.LANGUAGE_CODE)
    if not message.translated or not site.USE_I18N:
        return {form: [default] for form in message.forms()}
    codes = [default] + [code for code, _name in site.LANGUAGES if code != default]
    sources: dict[str, list[str]] = {}
    for code in codes:
        with translation.override(code):
            for form in message.forms():
                sources.setdefault(form, []).append(code)
    return sources


def _languages(codes: list[str]) -> str:
    shown = ", ".join(codes[:6]) + (f" and {len(codes) - 6} more" if len(codes) > 6 else "")
    return f"language{'s' if len(codes) > 1 else ''} {shown}"


def origin_problems(backends: Iterable[Any]) -> tuple[Any, list[Problem]]:
    """The origin-bound line's settings (E015) and the gateways whose vendor
    renders its own text, so that the line cannot be added (W005); returns
    the binding too (None when origin-bound codes are off or wrong)."""

    try:
        binding = settings.origin
    except ConfigurationError as exc:
        return None, [exc]
    problems: list[Problem] = []
    if binding is not None and binding.origin:
        for backend in backends:
            if not backend.adds_origin_lines:
                problems.append(ConfigurationWarning(
                    f"OTP_SMS_ORIGIN is set, but gateway {backend.alias!r} ({type(backend).__name__}) "
                    "sends a text the vendor renders from its own template, so the origin-bound line "
                    "cannot be added.",
                    check_id=W005,
                    hint=f"Add the line '@{binding.origin} #' followed by the code as the last line of the "
                    "template registered at the vendor.",
                    obj=f"SMS_GATEWAYS[{backend.alias!r}]",
                ))
    return binding, problems


def message_problems(backends: Iterable[Any]) -> list[Problem]:
    """``OTP_SMS_MESSAGE``, in every enabled language, is a usable template
    (E002) without an origin-bound line of its own (E015) that fits, with the
    origin-bound lines, in the SMS parts each of ``backends`` may send (E003),
    and in one SMS when an Android app hash is set (W006); plus
    :func:`origin_problems`."""

    backends = list(backends)
    binding, problems = origin_problems(backends)
    try:
        length, validity = settings.OTP_SMS_TOKEN_LENGTH, settings.OTP_SMS_TOKEN_VALIDITY
    except ConfigurationError:
        return problems  # check_codes reports it
    try:
        sources = message_sources()
    except ConfigurationError:
        return problems  # check_codes reports it
    for source, codes in sources.items():
        problem = origin_line_problem(source) if binding is not None and binding.origin else None
        if problem:
            problems.append(ConfigurationError(
                f"OTP_SMS_MESSAGE in {_languages(codes)} {problem}.", check_id=E015, obj="OTP_SMS_MESSAGE",
                hint="The origin-bound line is added for you: remove it from OTP_SMS_MESSAGE.",
            ))
        try:
            template = compile_template(source, binding)
        except TemplateError as exc:
            problems.append(ConfigurationError(
                f"OTP_SMS_MESSAGE in {_languages(codes)}: {exc}.",
                check_id=E002,
                hint="Include {token} in OTP_SMS_MESSAGE (and in every translation of it); "
                "only {token}, {minutes} and {site_name} are allowed.",
            ))
            continue
        worst = template.worst_case(length, minutes=whole_minutes(validity), site_name=str(settings.OTP_SMS_SITE_NAME))
        for backend in backends:
            if backend.uses_site_message and worst.segments > backend.max_segments:
                problems.append(ConfigurationError(
                    f"OTP_SMS_MESSAGE in {_languages(codes)} needs {worst.segments} SMS parts "
                    f"({worst.units} {worst.encoding} units), but gateway {backend.alias!r} "
                    f"sends at most {backend.max_segments}.",
                    check_id=E003,
                    hint="Shorten the message (or its translation, or OTP_SMS_SITE_NAME), or avoid "
                    "characters outside GSM-7: one of them makes the whole message UCS-2 (70 "
                    "characters per SMS instead of 160).",
                    obj=f"SMS_GATEWAYS[{backend.alias!r}]",
                ))
        if binding is not None and binding.app_hash and worst.segments > 1:
            problems.append(ConfigurationWarning(
                f"OTP_SMS_MESSAGE in {_languages(codes)} needs {worst.segments} SMS parts with the app "
                "hash line; Android's SMS Retriever only reads messages of at most 140 bytes (one SMS).",
                check_id=W006,
                hint="Shorten the message so that it fits one SMS.",
                obj="OTP_SMS_ANDROID_APP_HASH",
            ))
    return problems
