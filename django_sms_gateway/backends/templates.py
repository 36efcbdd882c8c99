"""Message texts in a vendor's own syntax, for vendors that render the text.

AccuAuth's ``content`` field carries the variables of a template registered
at the vendor as ``name:value`` pairs joined by ``,`` (its ``send_sms_otp``
page: ``code:1234,expire_at:5``). :class:`ContentTemplate` is our side of
that: a checked ``content`` option whose values hold ``{token}`` and
``{minutes}``, rendered per message.

iP1 makes the code itself and puts it at each ``{0}`` of the
``MessageFormat`` we send (iP1's API help, ``POST api/authentications``);
that the text follows .NET format rules, so that no other brace may appear,
is *inferred*. :func:`format_problem` is that rule and
:func:`site_format_problem` applies it to ``OTP_SMS_MESSAGE``;
:func:`format_parts` counts the SMS parts a format takes, and
:func:`configured_format_problem` checks a gateway's whole setting.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any

from ..checks import E002, E015
from ..conf import settings
from ..text import (
    OriginBinding,
    SegmentInfo,
    TemplateError,
    append_origin_lines,
    compile_template,
    origin_line_problem,
    segment_info,
    whole_minutes,
)

__all__ = ["CODE_SLOT", "ContentError", "ContentTemplate", "FormatProblem", "configured_format_problem",
           "content_problem", "format_parts", "format_problem", "site_format_problem"]

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


#: Where the vendor puts the code it makes.
CODE_SLOT = "{0}"
_STRAY_BRACE = re.compile(r"[{}]")


def format_problem(text_format: Any) -> str | None:
    """Why ``text_format`` is not a usable ``MessageFormat``, or None: it
    must contain ``{0}`` and no other brace (a stray brace would make the
    formatter fail or swallow text)."""
    if not isinstance(text_format, str) or not text_format.strip():
        return "must be a non-empty string containing {0}"
    if CODE_SLOT not in text_format:
        return "must contain {0} (where iP1 puts the code)"
    if not text_format.replace("\n", "").isprintable():
        return "contains control characters (only line breaks are allowed)"
    if _STRAY_BRACE.search(text_format.replace(CODE_SLOT, "")):
        return "may contain no '{' or '}' other than {0}"
    return None


def site_format_problem(validity: int) -> str | None:
    """Why ``OTP_SMS_MESSAGE``, rendered with ``{0}`` for the code, is not a
    usable ``MessageFormat``, or None (also when it does not compile: the
    :data:`~django_sms_gateway.checks.E002` check reports that)."""
    try:
        template = compile_template(settings.OTP_SMS_MESSAGE.source(whole_minutes(validity)))
    except TemplateError:
        return None
    site_name = settings.OTP_SMS_SITE_NAME
    return format_problem(template.render(CODE_SLOT, minutes=whole_minutes(validity), site_name=site_name))


@dataclass(frozen=True)
class FormatProblem:
    """What is wrong with the ``MessageFormat`` a gateway would send, and
    the system check that reports it (None: the gateway's options check)."""

    text: str
    check_id: str | None = None


def configured_format_problem(text_format: str | None, *, code_length: int, validity: int,
                              max_segments: int) -> FormatProblem | None:
    """Why a gateway whose ``message_format`` option is ``text_format`` (None:
    ``OTP_SMS_MESSAGE``) cannot send, or None: the site's text is no
    ``MessageFormat``; an own format lacks the origin-bound line's rule or
    needs more than ``max_segments`` parts with a ``code_length`` code."""
    if text_format is None:
        problem = site_format_problem(validity)
        if problem:
            return FormatProblem(f"OTP_SMS_MESSAGE cannot be iP1's MessageFormat: it {problem}; "
                                 "set option 'message_format'", E002)
        return None
    binding = settings.origin
    problem = origin_line_problem(text_format) if binding is not None and binding.origin else None
    if problem:
        return FormatProblem(f"option 'message_format' {problem}", E015)
    parts = format_parts(text_format, binding, code_length).segments
    if parts > max_segments:
        return FormatProblem(f"option 'message_format' needs {parts} SMS parts with a {code_length}-character "
                             f"code; iP1 sends at most {max_segments}")
    return None


def format_parts(text_format: str, binding: OriginBinding | None, code_length: int) -> SegmentInfo:
    """The SMS parts ``text_format`` takes, ending with ``binding``'s lines,
    with a code of ``code_length`` letters at every ``{0}``."""
    text = append_origin_lines(text_format, CODE_SLOT, binding)
    return segment_info(text.replace(CODE_SLOT, "W" * code_length))
