"""The ``SMS_GATEWAYS`` registry: ordered aliases, built once per process.

Like Django's ``caches`` and ``storages`` handlers: entries have ``BACKEND``
(dotted path) and ``OPTIONS``, plus ``COUNTRIES``, ``TIMEOUT`` and the circuit
breaker's ``BREAKER_THRESHOLD`` and ``BREAKER_COOLOFF``; instances
are built on first use, shared by all threads, and rebuilt when a relevant
setting changes (``override_settings`` included).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

import phonenumbers
from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from .backends.base import BaseBackend
from .conf import settings
from .exceptions import ConfigurationError

DEFAULT_GATEWAYS: dict[str, dict[str, Any]] = {
    "console": {"BACKEND": "django_sms_gateway.backends.console.ConsoleBackend"},
}
#: Check ids of the configuration errors raised here.
SHAPE_CHECK_ID, BACKEND_CHECK_ID, COUNTRIES_CHECK_ID, BREAKER_CHECK_ID = (
    "sms_gateway.E001", "sms_gateway.E004", "sms_gateway.E006", "sms_gateway.E014"
)
_EXAMPLE_BACKEND = "django_sms_gateway.backends.signicat.SignicatBackend"
_BREAKER_HINT = (
    "Set BREAKER_THRESHOLD (or OTP_SMS_BREAKER_THRESHOLD) to the number of consecutive failures that open "
    "the circuit, such as 3 (0 turns the breaker off), and BREAKER_COOLOFF (or OTP_SMS_BREAKER_COOLOFF) to "
    "the seconds it stays open, such as 30."
)
ENTRY_KEYS = frozenset({"BACKEND", "OPTIONS", "COUNTRIES", "TIMEOUT", "BREAKER_THRESHOLD", "BREAKER_COOLOFF"})
#: Settings whose change rebuilds the backends.
WATCHED_SETTINGS = frozenset(
    {"SMS_GATEWAYS", "OTP_SMS_GATEWAY_TIMEOUT", "OTP_SMS_SENDER", "OTP_SMS_BREAKER_THRESHOLD",
     "OTP_SMS_BREAKER_COOLOFF", "DEBUG"}
)


def breaker_settings(alias: str, entry: Mapping[str, Any]) -> tuple[int, float]:
    """``(threshold, cooloff)`` of a gateway's circuit breaker: the entry's
    ``BREAKER_THRESHOLD`` / ``BREAKER_COOLOFF``, else ``OTP_SMS_BREAKER_THRESHOLD``
    / ``OTP_SMS_BREAKER_COOLOFF``. A threshold of 0 (or None) turns it off.
    Raises :class:`ConfigurationError` (``sms_gateway.E014``) naming the setting that is wrong."""
    where = f"SMS_GATEWAYS[{alias!r}]"
    if "BREAKER_THRESHOLD" in entry:
        threshold, source = entry["BREAKER_THRESHOLD"], f"{where}: 'BREAKER_THRESHOLD'"
    else:
        threshold, source = settings.OTP_SMS_BREAKER_THRESHOLD, f"OTP_SMS_BREAKER_THRESHOLD (used by {where})"
    if threshold is None:
        threshold = 0
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
        raise ConfigurationError(
            f"{source} must be a whole number of consecutive failures (0 or None: no breaker), not {threshold!r}.",
            check_id=BREAKER_CHECK_ID, hint=_BREAKER_HINT, obj=where,
        )
    if "BREAKER_COOLOFF" in entry:
        cooloff, source = entry["BREAKER_COOLOFF"], f"{where}: 'BREAKER_COOLOFF'"
    else:
        cooloff, source = settings.OTP_SMS_BREAKER_COOLOFF, f"OTP_SMS_BREAKER_COOLOFF (used by {where})"
    if isinstance(cooloff, bool) or not isinstance(cooloff, (int, float)) or not 0 < cooloff < float("inf"):
        raise ConfigurationError(f"{source} must be a positive number of seconds, not {cooloff!r}.",
                                 check_id=BREAKER_CHECK_ID, hint=_BREAKER_HINT, obj=where)
    return threshold, float(cooloff)


def build_backend(alias: str, entry: Any) -> BaseBackend:
    """Build one backend from its ``SMS_GATEWAYS`` entry, or raise
    :class:`ConfigurationError` naming the alias and what is wrong, with the
    id of the check that reports it."""
    where = f"SMS_GATEWAYS[{alias!r}]"

    def error(message: str, check_id: str = SHAPE_CHECK_ID, hint: str = "") -> ConfigurationError:
        return ConfigurationError(message, check_id=check_id, hint=hint or _entry_hint(alias), obj=where)

    if not isinstance(entry, Mapping):
        raise error(f"{where} must be a dict with a 'BACKEND' key.")
    unknown = sorted(set(entry) - ENTRY_KEYS)
    if unknown:
        raise error(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(ENTRY_KEYS))}).")
    path = entry.get("BACKEND")
    if not path or not isinstance(path, str):
        raise error(f"{where}: 'BACKEND' is required (a dotted path to a backend class).")
    try:
        backend_class = import_string(path)
    except ImportError as exc:
        raise error(
            f"{where}: cannot import BACKEND {path!r} ({exc}).", BACKEND_CHECK_ID,
            f"Set BACKEND to the dotted path of a backend class, such as {_EXAMPLE_BACKEND!r}, "
            "and make sure its package is installed.",
        ) from exc
    if not (isinstance(backend_class, type) and issubclass(backend_class, BaseBackend)):
        raise error(
            f"{where}: BACKEND {path!r} is not a django_sms_gateway backend class.", BACKEND_CHECK_ID,
            "Point BACKEND at a subclass of django_sms_gateway.backends.base.BaseBackend, "
            f"such as {_EXAMPLE_BACKEND!r}.",
        )
    options = entry.get("OPTIONS") or {}
    if not isinstance(options, Mapping):
        raise error(f"{where}: 'OPTIONS' must be a dict.")
    countries = entry.get("COUNTRIES")
    if countries is not None:
        countries_hint = ("Make COUNTRIES a list of two-letter ISO 3166 region codes, such as ['NO', 'SE'], "
                          "or leave it out to serve every country.")
        if isinstance(countries, str) or not all(isinstance(c, str) for c in countries):
            raise error(f"{where}: 'COUNTRIES' must be a list of ISO 3166 region codes, not {countries!r}.",
                        COUNTRIES_CHECK_ID, countries_hint)
        bad = [c for c in countries if c.upper() not in phonenumbers.SUPPORTED_REGIONS]
        if bad:
            raise error(f"{where}: 'COUNTRIES' has {bad[0]!r}, which is not an ISO 3166 region code.",
                        COUNTRIES_CHECK_ID, countries_hint)
    timeout = entry.get("TIMEOUT", settings.OTP_SMS_GATEWAY_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise error(f"{where}: 'TIMEOUT' must be a positive number of seconds.")
    threshold, cooloff = breaker_settings(alias, entry)
    if "sender" in backend_class.options and options.get("sender") is None and settings.OTP_SMS_SENDER:
        options = {**options, "sender": settings.OTP_SMS_SENDER}
    backend = backend_class(alias, options, countries=countries, timeout=timeout)
    backend.breaker_threshold, backend.breaker_cooloff = threshold, cooloff
    return backend


def _entry_hint(alias: str) -> str:
    return (
        f"Make SMS_GATEWAYS[{alias!r}] a dict with 'BACKEND' (dotted path) and optionally 'OPTIONS' (dict), "
        "'COUNTRIES' (list of region codes), 'TIMEOUT' (positive seconds), 'BREAKER_THRESHOLD' "
        "(consecutive failures, 0: no breaker) and 'BREAKER_COOLOFF' (positive seconds)."
    )


class GatewayHandler:
    """Ordered access to the configured backends: ``gateways.all()``,
    ``gateways["alias"]``, ``for backend in gateways``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._backends: dict[str, BaseBackend] | None = None

    @staticmethod
    def configured() -> dict[str, Any]:
        """The ``SMS_GATEWAYS`` entries; without the setting, one console
        backend, which withholds codes unless ``DEBUG`` is on."""
        value = settings.SMS_GATEWAYS
        if value is None:
            return {
                alias: {**entry, "OPTIONS": {"withhold_codes": not django_settings.DEBUG}}
                for alias, entry in DEFAULT_GATEWAYS.items()
            }
        if not isinstance(value, Mapping) or not value:
            raise ConfigurationError(
                "SMS_GATEWAYS must be a non-empty dict of alias -> gateway settings.", check_id=SHAPE_CHECK_ID,
                hint="Set SMS_GATEWAYS to a dict of alias -> {'BACKEND': ..., 'OPTIONS': {...}}, "
                "or remove it to print messages to the console during development.",
            )
        return dict(value)

    def _load(self) -> dict[str, BaseBackend]:
        backends = self._backends
        if backends is None:
            with self._lock:
                if self._backends is None:
                    self._backends = {
                        alias: build_backend(alias, entry) for alias, entry in self.configured().items()
                    }
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
