"""SMS text: GSM-7 / UCS-2 detection, segment counting and message templates.

Pure Python with no Django import, so the vendor sandbox can use it too.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "GSM7",
    "UCS2",
    "SegmentInfo",
    "segment_info",
    "MessageTemplate",
    "TemplateError",
    "compile_template",
    "validity_minutes",
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


_FIELDS = frozenset({"token", "minutes", "site_name"})


@dataclass(frozen=True)
class MessageTemplate:
    """A checked message template with ``{token}`` and optional
    ``{minutes}`` and ``{site_name}`` placeholders (``str.format`` syntax)."""

    source: str

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
        return self.source.format(token=token, minutes=minutes, site_name=site_name)

    def worst_case(self, token_length: int, *, minutes: int, site_name: str = "") -> SegmentInfo:
        """Segments of the longest message this template can produce, which
        every code of ``token_length`` digits needs (a digit is one unit in
        either encoding). Kept per template and arguments: hot path."""
        return _worst_case(self, token_length, minutes, site_name)


@lru_cache(maxsize=256)
def _worst_case(template: MessageTemplate, token_length: int, minutes: int, site_name: str) -> SegmentInfo:
    return segment_info(template.render("9" * token_length, minutes=minutes, site_name=site_name))


@lru_cache(maxsize=64)
def compile_template(source: str) -> MessageTemplate:
    """Check ``source`` once and keep the result (templates are hot-path)."""
    return MessageTemplate(str(source))


def validity_minutes(seconds: int) -> int:
    """A code's lifetime of ``seconds`` in whole minutes for the message's
    ``{minutes}``: rounded up, and at least 1."""
    return max(1, (int(seconds) + 59) // 60)
