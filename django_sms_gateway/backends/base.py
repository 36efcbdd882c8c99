"""The contract every SMS backend fulfils.

A backend is built once per process per ``SMS_GATEWAYS`` alias (see
:mod:`django_sms_gateway.gateways`) and must be safe to call from several
threads at once. It validates its ``OPTIONS`` when built, raising
``ImproperlyConfigured`` that names the alias and the option, and then sends
one :class:`SMSMessage` per :meth:`BaseBackend.send` call, raising a
:class:`~django_sms_gateway.exceptions.GatewayError` subclass on failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured

from ..phone import mask_number
from ..text import MessageTemplate, SegmentInfo, segment_info

_MISSING = object()
#: Marks an option that must be given in ``OPTIONS``.
REQUIRED: Any = _MISSING


@dataclass(frozen=True, slots=True)
class SMSMessage:
    """One code to deliver.

    ``text`` is the rendered message. ``code`` and ``template`` are there for
    vendors that render the text themselves (vendor-held templates) or make
    their own code (``template.render("{0}", ...)`` gives a vendor format).
    Never log ``code`` or ``text``; ``repr()`` hides both.
    """

    recipient: str  # E.164
    text: str = field(repr=False)
    code: str = field(repr=False)
    sender: str | None = None
    validity: int = 300  # seconds the code is valid
    template: MessageTemplate | None = field(default=None, repr=False)
    site_name: str = ""

    @property
    def masked_recipient(self) -> str:
        return mask_number(self.recipient)

    @property
    def minutes(self) -> int:
        return max(1, (self.validity + 59) // 60)

    def segment_info(self) -> SegmentInfo:
        """Units and SMS parts of ``text``. A text rendered from ``template``
        with a digit code needs what the template needs for that many digits,
        which is counted once, not per message."""
        code, template = self.code, self.template
        if (
            template is not None
            and code.isascii()
            and code.isdigit()
            and self.text == template.render(code, minutes=self.minutes, site_name=self.site_name)
        ):
            return template.worst_case(len(code), minutes=self.minutes, site_name=self.site_name)
        return segment_info(self.text)

    def render(self, token: str) -> str:
        """The message text with ``token`` in place of the code."""
        if self.template is None:
            return self.text.replace(self.code, token)
        return self.template.render(token, minutes=self.minutes, site_name=self.site_name)


@dataclass(slots=True)
class SendResult:
    """What the vendor told us about an accepted message."""

    reference: str | None = None  # vendor's message / session / request id
    status: str = "accepted"  # vendor's status word, kept raw
    segments: int | None = None
    charge: int | None = None


class BaseBackend:
    """Base of every backend.

    Subclasses declare ``options``: a mapping of option name to default, with
    :data:`REQUIRED` for options that must be given. ``OPTIONS`` names not in
    it are refused. :meth:`check_options` may validate values further.
    """

    #: Option name -> default (or REQUIRED).
    options: ClassVar[Mapping[str, Any]] = {}
    #: The vendor makes and checks the code itself (see :meth:`verify`).
    verifies_codes: ClassVar[bool] = False
    #: Most SMS parts this backend may send for one message.
    max_segments: int = 1
    #: The text sent is ``OTP_SMS_MESSAGE`` (False when the backend has its own).
    uses_site_message: bool = True
    #: Circuit breaker (see :mod:`django_sms_gateway.breaker`): consecutive
    #: failures that open it (0: off) and seconds it stays open. Set from the
    #: ``SMS_GATEWAYS`` entry; None reads ``OTP_SMS_BREAKER_THRESHOLD`` /
    #: ``OTP_SMS_BREAKER_COOLOFF`` at send time.
    breaker_threshold: int | None = None
    breaker_cooloff: float | None = None

    def __init__(
        self,
        alias: str,
        options: Mapping[str, Any] | None = None,
        *,
        countries: Iterable[str] | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.alias = alias
        self.timeout = float(timeout)
        self.countries = frozenset(c.upper() for c in countries) if countries else None
        given = dict(options or {})
        unknown = sorted(set(given) - set(self.options))
        if unknown:
            allowed = ", ".join(sorted(self.options)) or "none"
            raise self.config_error(f"unknown option {unknown[0]!r} (allowed: {allowed})")
        self.config: dict[str, Any] = {}
        for name, default in self.options.items():
            value = given.get(name, default)
            if value is _MISSING or (name in given and default is _MISSING and value in (None, "")):
                raise self.config_error(f"option {name!r} is required")
            self.config[name] = value
        self.check_options()

    def config_error(self, problem: str) -> ImproperlyConfigured:
        return ImproperlyConfigured(f"SMS_GATEWAYS[{self.alias!r}] ({type(self).__name__}): {problem}")

    def check_options(self) -> None:
        """Validate option values; raise ``self.config_error(...)``."""

    def serves(self, region: str | None) -> bool:
        """May this gateway send to numbers of ``region`` (ISO 3166)?"""
        return self.countries is None or (region is not None and region in self.countries)

    def send(self, message: SMSMessage, *, timeout: float) -> SendResult:
        """Deliver ``message`` within ``timeout`` seconds or raise a
        :class:`~django_sms_gateway.exceptions.GatewayError`."""
        raise NotImplementedError

    def verify(self, recipient: str, code: str, *, timeout: float) -> bool:
        """For ``verifies_codes`` backends: ask the vendor whether ``code`` is
        the one it sent to ``recipient``. Raises a GatewayError when the vendor
        cannot answer."""
        raise NotImplementedError(f"{type(self).__name__} does not verify codes")

    def close(self) -> None:
        """Release connections; called when settings change."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.alias!r}>"
