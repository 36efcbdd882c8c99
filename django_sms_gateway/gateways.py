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
from .breaker import resolve_policy
from .conf import settings
from .exceptions import ConfigurationError

DEFAULT_GATEWAYS: dict[str, dict[str, Any]] = {
    "console": {"BACKEND": "django_sms_gateway.backends.console.ConsoleBackend"},
}
ENTRY_KEYS = frozenset({"BACKEND", "OPTIONS", "COUNTRIES", "TIMEOUT", "BREAKER_THRESHOLD", "BREAKER_COOLOFF"})
#: Settings whose change rebuilds the backends.
WATCHED_SETTINGS = frozenset(
    {"SMS_GATEWAYS", "OTP_SMS_GATEWAY_TIMEOUT", "OTP_SMS_SENDER", "OTP_SMS_BREAKER_THRESHOLD",
     "OTP_SMS_BREAKER_COOLOFF", "DEBUG"}
)


def breaker_settings(alias: str, entry: Mapping[str, Any]) -> tuple[int, float]:
    """Deprecated alias of :func:`django_sms_gateway.breaker.resolve_policy`."""
    return resolve_policy(alias, entry)


#: An importable backend, named in the hints.
EXAMPLE_BACKEND = "django_sms_gateway.backends.signicat.SignicatBackend"


def _entry_hint(alias: str) -> str:
    return (
        f"Make SMS_GATEWAYS[{alias!r}] a dict with 'BACKEND' (dotted path) and optionally 'OPTIONS' (dict), "
        "'COUNTRIES' (list of region codes), 'TIMEOUT' (positive seconds), 'BREAKER_THRESHOLD' "
        "(consecutive failures, 0: no breaker) and 'BREAKER_COOLOFF' (positive seconds)."
    )


def build_backend(alias: str, entry: Any) -> BaseBackend:
    """Build one backend from its ``SMS_GATEWAYS`` entry, or raise
    :class:`~django_sms_gateway.exceptions.ConfigurationError` naming the
    alias and what is wrong, with the id of the check that reports it
    (E001 shape, E004 ``BACKEND``, E005 ``OPTIONS``, E006 ``COUNTRIES``,
    E014 breaker)."""
    where = f"SMS_GATEWAYS[{alias!r}]"

    def shape_error(message: str) -> ConfigurationError:
        return ConfigurationError(message, check_id="sms_gateway.E001", hint=_entry_hint(alias), obj=where)

    if not isinstance(entry, Mapping):
        raise shape_error(f"{where} must be a dict with a 'BACKEND' key.")
    unknown = sorted(set(entry) - ENTRY_KEYS)
    if unknown:
        raise shape_error(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(ENTRY_KEYS))}).")
    path = entry.get("BACKEND")
    if not path or not isinstance(path, str):
        raise shape_error(f"{where}: 'BACKEND' is required (a dotted path to a backend class).")
    try:
        backend_class = import_string(path)
    except ImportError as exc:
        raise ConfigurationError(
            f"{where}: cannot import BACKEND {path!r}: {exc}",
            check_id="sms_gateway.E004", obj=where,
            hint=f"Set BACKEND to the dotted path of a backend class, such as {EXAMPLE_BACKEND!r}, "
            "and make sure its package is installed.",
        ) from exc
    if not (isinstance(backend_class, type) and issubclass(backend_class, BaseBackend)):
        raise ConfigurationError(
            f"{where}: BACKEND {path!r} is not a django_sms_gateway backend class.",
            check_id="sms_gateway.E004", obj=where,
            hint="Point BACKEND at a subclass of django_sms_gateway.backends.base.BaseBackend, "
            f"such as {EXAMPLE_BACKEND!r}.",
        )
    options = entry.get("OPTIONS") or {}
    if not isinstance(options, Mapping):
        raise shape_error(f"{where}: 'OPTIONS' must be a dict.")
    countries = entry.get("COUNTRIES")
    if countries is not None:
        if isinstance(countries, str) or not all(isinstance(c, str) for c in countries):
            problem = "'COUNTRIES' must be a list of ISO 3166 region codes."
        else:
            bad = [c for c in countries if c.upper() not in phonenumbers.SUPPORTED_REGIONS]
            problem = f"'COUNTRIES' has {bad[0]!r}, which is not an ISO 3166 region code." if bad else ""
        if problem:
            raise ConfigurationError(
                f"{where}: {problem}", check_id="sms_gateway.E006", obj=where,
                hint="Make COUNTRIES a list of two-letter ISO 3166 region codes, such as ['NO', 'SE'], "
                "or leave it out to serve every country.",
            )
    timeout = entry.get("TIMEOUT", settings.OTP_SMS_GATEWAY_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise shape_error(f"{where}: 'TIMEOUT' must be a positive number of seconds.")
    threshold, cooloff = resolve_policy(alias, entry)
    if "sender" in backend_class.options and options.get("sender") is None and settings.OTP_SMS_SENDER:
        options = {**options, "sender": settings.OTP_SMS_SENDER}
    backend = backend_class(alias, options, countries=countries, timeout=timeout)
    backend.breaker_threshold, backend.breaker_cooloff = threshold, cooloff
    return backend



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
                "SMS_GATEWAYS must be a non-empty dict of alias -> gateway settings.",
                check_id="sms_gateway.E001",
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
