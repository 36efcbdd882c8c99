"""Phone numbers: normalise to E.164, refuse what cannot take an SMS code, mask for logs."""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import TYPE_CHECKING

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from phonenumbers import NumberParseException, PhoneNumberType

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

MAX_INPUT_LENGTH = 32

_ALLOWED = frozenset("0123456789+ -.()/")
_EXTENSION_MARKS = frozenset("#,;")
_ACCEPTED_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})

_TYPE_ERRORS = {
    PhoneNumberType.PREMIUM_RATE: ("premium_rate", _("Premium-rate numbers cannot receive codes.")),
    PhoneNumberType.TOLL_FREE: ("toll_free", _("Toll-free numbers cannot receive codes.")),
    PhoneNumberType.SHARED_COST: ("shared_cost", _("Shared-cost numbers cannot receive codes.")),
}


def _invalid(message: StrOrPromise, code: str) -> ValidationError:
    return ValidationError(message, code=code)


def normalize_number(value: object, region: str | None = None) -> str:
    """Return ``value`` as an E.164 mobile number (``+4798765432``).

    Raises :class:`~django.core.exceptions.ValidationError` whose ``code``
    names what was wrong: ``required``, ``too_long``, ``control_characters``,
    ``letters``, ``extension``, ``invalid_characters``, ``international_format``,
    ``unknown_country``, ``invalid``, ``short_code``, ``premium_rate``,
    ``toll_free``, ``shared_cost`` or ``not_mobile``.
    """
    if not isinstance(value, str) or not value.strip():
        raise _invalid(_("Enter a phone number."), "required")
    return _normalize(value.strip(), region)


@lru_cache(maxsize=4096)
def _normalize(raw: str, region: str | None) -> str:
    if len(raw) > MAX_INPUT_LENGTH:
        raise _invalid(_("The phone number is too long."), "too_long")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in raw):
        raise _invalid(_("The phone number contains control characters."), "control_characters")
    if any(c in _EXTENSION_MARKS for c in raw) or "ext" in raw.lower():
        raise _invalid(_("Phone numbers with an extension cannot receive codes."), "extension")
    if any(c.isalpha() for c in raw):
        raise _invalid(_("The phone number may contain digits only, not letters."), "letters")
    if any(c not in _ALLOWED for c in raw) or raw.count("+") > 1 or "+" in raw[1:]:
        raise _invalid(_("The phone number contains characters that are not allowed."), "invalid_characters")
    if not raw.startswith("+") and not region:
        raise _invalid(_("Enter the phone number with its country code, starting with +."), "international_format")
    try:
        number = phonenumbers.parse(raw, None if raw.startswith("+") else region)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE:
            raise _invalid(_("The country code of the phone number is unknown."), "unknown_country") from None
        raise _invalid(_("Enter a valid phone number."), "invalid") from None
    if phonenumbers.region_code_for_country_code(number.country_code or 0) == phonenumbers.UNKNOWN_REGION:
        raise _invalid(_("The country code of the phone number is unknown."), "unknown_country")
    if not phonenumbers.is_valid_number(number):
        if phonenumbers.is_valid_short_number(number):
            raise _invalid(_("Short codes cannot receive codes."), "short_code")
        raise _invalid(_("Enter a valid phone number."), "invalid")
    kind = phonenumbers.number_type(number)
    if kind not in _ACCEPTED_TYPES:
        code, message = _TYPE_ERRORS.get(kind, ("not_mobile", _("Enter a mobile phone number.")))
        raise _invalid(message, code)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=4096)
def region_of(e164: str) -> str | None:
    """ISO 3166 region of an E.164 number (``"NO"``), or None if unknown."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except NumberParseException:
        return None


def mask_number(e164: str | None) -> str:
    """Hide all but the country code and the last two digits: ``+47******32``."""
    if not e164:
        return ""
    return _mask(e164)


@lru_cache(maxsize=4096)  # one login masks the same number several times (logs, records, signals)
def _mask(e164: str) -> str:
    digits = e164.lstrip("+")
    try:
        cc = str(phonenumbers.parse(e164, None).country_code) if e164.startswith("+") else ""
    except NumberParseException:
        cc = ""
    hidden = max(len(digits) - len(cc) - 2, 0)
    return f"+{cc}{'*' * hidden}{digits[len(cc) + hidden:]}"
