"""Template variables for vendors that hold the message template themselves.

AccuAuth's ``content`` field carries the variables of a template registered
at the vendor as ``name:value`` pairs joined by ``,`` (its ``send_sms_otp``
page: ``code:1234,expire_at:5``). :class:`ContentTemplate` is our side of
that: a checked ``content`` option whose values hold ``{token}`` and
``{minutes}``, rendered per message.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

__all__ = ["ContentError", "ContentTemplate", "content_problem"]

_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLACEHOLDERS = frozenset({"token", "minutes"})


class ContentError(ValueError):
    """A ``content`` option is not usable; the text says why."""


@dataclass(frozen=True)
class ContentTemplate:
    """A checked ``content`` option: ``name:value`` pairs joined by ``,``, whose
    values may use ``{token}`` (required once at least) and ``{minutes}``.

    The code (ASCII digits) and the minutes (an integer) never contain ``,``
    or ``:``, so the rendered content always parses back into the same pairs.
    Literal ``{`` and ``}`` are written ``{{`` and ``}}`` (``str.format`` rules).
    """

    source: str

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source:
            raise ContentError("must be a non-empty string such as 'code:{token},expire_at:{minutes}'")
        names: set[str] = set()
        used: set[str] = set()
        for pair in self.source.split(","):
            name, colon, value = pair.partition(":")
            if not colon or not value:
                raise ContentError(f"{pair!r} is not a name:value pair (pairs are joined by ',')")
            if not _VARIABLE_NAME.fullmatch(name):
                raise ContentError(f"{name!r} is not a template variable name")
            if name in names:
                raise ContentError(f"variable {name!r} is given twice")
            names.add(name)
            used |= self._placeholders(value)
        if "token" not in used:
            raise ContentError("must carry the code: put {token} in one variable's value")

    @staticmethod
    def _placeholders(value: str) -> set[str]:
        try:
            parsed = list(string.Formatter().parse(value))
        except ValueError as exc:
            raise ContentError(f"value {value!r} is malformed: {exc}") from None
        found = set()
        for literal, field, spec, conversion in parsed:
            if ":" in literal:
                raise ContentError(f"value {value!r} contains ':', which would split the pair")
            if field is None:
                continue
            if field not in _PLACEHOLDERS:
                raise ContentError(f"unknown placeholder {{{field}}} (allowed: {{token}}, {{minutes}})")
            if spec or conversion:
                raise ContentError(f"placeholder {{{field}}} may not carry a format spec or conversion")
            found.add(field)
        return found

    def render(self, token: str, minutes: int) -> str:
        return self.source.format(token=token, minutes=minutes)


def content_problem(source: object) -> str | None:
    """Why ``source`` is not a usable ``content`` option, or None."""
    try:
        ContentTemplate(source)  # type: ignore[arg-type]
    except ContentError as exc:
        return str(exc)
    return None
