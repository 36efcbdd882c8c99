"""SMS text: GSM-7 / UCS-2 detection, segment counting, message templates and
the lines that bind a code to a site (origin-bound one-time codes).

Pure Python with no Django import.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = [
    "GSM7",
    "UCS2",
    "SegmentInfo",
    "segment_info",
    "MessageTemplate",
    "MessageText",
    "TemplateError",
    "compile_template",
    "OriginBinding",
    "OriginError",
    "append_origin_lines",
    "origin_line_problem",
    "whole_minutes",
    "whole_seconds",
]

GSM7 = "GSM-7"
UCS2 = "UCS-2"

# 3GPP TS 23.038 default alphabet and its extension table (each extension
# character is sent as ESC + char, so it costs two septets).
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")

_SINGLE = {GSM7: 160, UCS2: 70}
_PART = {GSM7: 153, UCS2: 67}


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """How a text travels as SMS: its encoding, length in units, and parts."""

    encoding: str
    units: int
    segments: int


def _unit_cost(char: str, encoding: str) -> int:
    if encoding == GSM7:
        return 2 if char in _GSM7_EXTENDED else 1
    return 2 if ord(char) > 0xFFFF else 1


def is_gsm7(text: str) -> bool:
    """True when every character of ``text`` is in the GSM-7 alphabet."""
    return all(c in _GSM7_BASIC or c in _GSM7_EXTENDED for c in text)


def segment_info(text: str) -> SegmentInfo:
    """Count the units and SMS parts ``text`` needs.

    GSM-7 when every character is in the GSM-7 alphabet (extension characters
    cost two septets), otherwise UCS-2 (characters outside the Basic
    Multilingual Plane cost two units). A message that does not fit one SMS
    is split into parts of 153 septets or 67 units; a two-unit character is
    never split across parts.
    """
    encoding = GSM7 if is_gsm7(text) else UCS2
    costs = [_unit_cost(c, encoding) for c in text]
    units = sum(costs)
    if units <= _SINGLE[encoding]:
        return SegmentInfo(encoding, units, 1 if units else 0)
    per_part = _PART[encoding]
    parts, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            parts += 1
            used = 0
        used += cost
    return SegmentInfo(encoding, units, parts)


class TemplateError(ValueError):
    """A message template is not usable; the text says why."""


class OriginError(ValueError):
    """An origin or app hash cannot go into an origin-bound line; the text says why."""


# A host as the WICG format carries it: ASCII (IDNA) labels, no scheme, port or path.
_HOST = re.compile(r"(?=.{1,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
# Android SMS Retriever: 11 characters of the app's base64 signature hash.
_APP_HASH = re.compile(r"[A-Za-z0-9+/]{11}")
# A line that reads as an origin-bound code line ("@host #code").
_BOUND_LINE = re.compile(r"^@\S+ #\S+", re.MULTILINE)


def _host(value: str, setting: str) -> str:
    host = value.strip().lower().rstrip(".") if isinstance(value, str) else ""
    if not _HOST.fullmatch(host):
        raise OriginError(
            f"{setting} must be a host name such as 'example.com' (no scheme, port, path or spaces); "
            f"got {value!r}"
        )
    return host


@dataclass(frozen=True, slots=True)
class OriginBinding:
    """The lines that end every message when codes are origin-bound.

    The last line is ``@origin #code`` (with `` %embedded`` when the code is
    asked for inside an iframe of another site), the format of the WICG
    "Origin-bound one-time codes delivered via SMS" report
    (https://wicg.github.io/sms-one-time-codes/#format), which Safari's
    one-time-code autofill and Chrome's WebOTP read. ``app_hash`` puts the
    11-character Android SMS Retriever hash on the line before it
    (https://developers.google.com/identity/sms-retriever/verify).
    """

    origin: str = ""
    embedded_origin: str = ""
    app_hash: str = ""

    @classmethod
    def checked(
        cls, origin: str | None = None, embedded_origin: str | None = None, app_hash: str | None = None
    ) -> OriginBinding:
        """A binding from settings values; raises :class:`OriginError` for a bad one.
        An app hash alone (no origin) is the message's last line."""
        host = _host(origin, "OTP_SMS_ORIGIN") if origin else ""
        if embedded_origin and not host:
            raise OriginError("OTP_SMS_EMBEDDED_ORIGIN needs OTP_SMS_ORIGIN (the site that embeds it)")
        embedded = _host(embedded_origin, "OTP_SMS_EMBEDDED_ORIGIN") if embedded_origin else ""
        if app_hash and not (isinstance(app_hash, str) and _APP_HASH.fullmatch(app_hash)):
            raise OriginError(
                "OTP_SMS_ANDROID_APP_HASH must be the 11-character app hash (letters, digits, + and /) "
                f"that Android's SMS Retriever computes; got {app_hash!r}"
            )
        return cls(host, embedded, app_hash or "")

    def lines(self, token: str) -> str:
        """The app hash line and the origin-bound line for ``token`` (each if set)."""
        lines = [self.app_hash] if self.app_hash else []
        if self.origin:
            lines.append(f"@{self.origin} #{token}" + (f" %{self.embedded_origin}" if self.embedded_origin else ""))
        return "\n".join(lines)


def append_origin_lines(text: str, token: str, binding: OriginBinding | None) -> str:
    """``text`` ending with ``binding``'s lines for ``token`` (unchanged without a binding).

    A vendor format whose code placeholder is ``{0}`` (iP1's MessageFormat)
    passes ``token="{0}"``.
    """
    lines = binding.lines(token) if binding is not None else ""
    return f"{text.rstrip()}\n\n{lines}" if lines else text


def origin_line_problem(text: str) -> str | None:
    """Why ``text`` (a template or vendor format) would break the rule that
    the origin-bound line is the only such line and the last one, or None."""
    if _BOUND_LINE.search(text):
        return (
            "already has a line starting '@host #', which would compete with the origin-bound line "
            "that OTP_SMS_ORIGIN adds as the last line; remove it"
        )
    return None


_FIELDS = frozenset({"token", "minutes", "site_name"})

#: The counts :meth:`MessageText.forms` asks a plural for: every plural rule of
#: gettext catalogues picks its form from n, n % 10 and n % 100, so 1 to 199
#: meets each form that a number of minutes can have.
PLURAL_PROBES = range(1, 200)


@dataclass(frozen=True, slots=True)
class MessageText:
    """A message template's source as a site gives it, for a number of minutes.

    ``text`` alone is used for every number (a ``str``, or a lazily
    translated string, which ``str()`` renders in the active language). With
    ``plural``, ``text`` is for one minute and ``plural`` for any other
    number. With ``choose`` (a lazy plural's translation function, called as
    ``choose(number=minutes)``), that picks the form, in the active language
    and by its plural rule; ``text`` is then only what the site wrote.
    """

    text: Any
    plural: Any = None
    choose: Callable[..., str] | None = None

    @property
    def translated(self) -> bool:
        """Whether the source depends on the active language."""
        return self.choose is not None or not all(isinstance(t, str | None) for t in (self.text, self.plural))

    def source(self, minutes: int) -> str:
        """The source for ``minutes``, in the active language."""
        if self.choose is not None:
            return self.choose(number=minutes)
        if self.plural is not None and minutes != 1:
            return str(self.plural)
        return str(self.text)

    def forms(self) -> list[str]:
        """Every source a number of minutes can pick, in the active language."""
        if self.choose is not None:
            return list(dict.fromkeys(self.choose(number=n) for n in PLURAL_PROBES))
        if self.plural is not None:
            return list(dict.fromkeys((str(self.text), str(self.plural))))
        return [str(self.text)]


@dataclass(frozen=True)
class MessageTemplate:
    """A checked message template with ``{token}`` and optional
    ``{minutes}`` and ``{site_name}`` placeholders (``str.format`` syntax),
    ending with ``binding``'s origin-bound lines when there is one."""

    source: str
    binding: OriginBinding | None = None

    def __post_init__(self) -> None:
        try:
            parsed = list(string.Formatter().parse(self.source))
        except ValueError as exc:
            raise TemplateError(f"message template is malformed: {exc}") from exc
        names = set()
        for _literal, field, spec, conversion in parsed:
            if field is None:
                continue
            if field not in _FIELDS:
                raise TemplateError(
                    f"message template uses unknown placeholder {{{field}}}; "
                    f"allowed: {', '.join('{' + f + '}' for f in sorted(_FIELDS))}"
                )
            if spec or conversion:
                raise TemplateError(
                    f"message template placeholder {{{field}}} may not carry a "
                    "format spec or conversion"
                )
            names.add(field)
        if "token" not in names:
            raise TemplateError("message template must contain {token}")

    def render(self, token: str, *, minutes: int = 0, site_name: str = "") -> str:
        text = self.source.format(token=token, minutes=minutes, site_name=site_name)
        return append_origin_lines(text, token, self.binding)

    def worst_case(self, token_length: int, *, minutes: int, site_name: str = "") -> SegmentInfo:
        """Segments of the longest message this template can produce, which
        every code of ``token_length`` digits needs (a digit is one unit in
        either encoding). Kept per template and arguments: hot path."""
        return _worst_case(self, token_length, minutes, site_name)


@lru_cache(maxsize=256)
def _worst_case(template: MessageTemplate, token_length: int, minutes: int, site_name: str) -> SegmentInfo:
    return segment_info(template.render("9" * token_length, minutes=minutes, site_name=site_name))


@lru_cache(maxsize=64)
def compile_template(source: str, binding: OriginBinding | None = None) -> MessageTemplate:
    """Check ``source`` once and keep the result (templates are hot-path)."""
    return MessageTemplate(str(source), binding)


def whole_minutes(seconds: float) -> int:
    """``seconds`` as the minutes a user is told: rounded up, at least 1
    ("expires in 5 minutes", "try again in 34 minutes")."""
    return max(1, math.ceil(seconds / 60))


def whole_seconds(seconds: float) -> int:
    """``seconds`` as the seconds a user is told: rounded up, at least 1
    ("a new one in 42 seconds")."""
    return max(1, int(seconds + 0.999))
