"""Phone numbers: normalise to E.164, refuse what cannot take an SMS code, mask for logs.

Numbers of the non-geographic region ``001`` (satellite phones such as
Iridium ``+8816`` and Inmarsat ``+870``, international networks ``+882``
and ``+883``) are refused like premium-rate numbers: they are billed at
satellite or carrier-set rates and are a favourite of SMS pumping, and
phonenumbers reports many of them as ``MOBILE``. A site whose users carry
satellite phones allows their ranges by E.164 prefix in
``OTP_SMS_ALLOWED_NON_GEOGRAPHIC`` (such as ``["+8816"]``).
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.signals import setting_changed
from django.utils.translation import gettext_lazy as _

from . import signals
from .checks import E023
from .conf import settings
from .exceptions import ConfigurationError

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

MAX_INPUT_LENGTH = 32

_ALLOWED = frozenset("0123456789+ -.()/")
_EXTENSION_MARKS = frozenset("#,;")

try:
    import phonenumbers
    from phonenumbers import NumberParseException, PhoneNumberType
except ImportError:  # neither phonenumbers nor phonenumberslite: check E023, and every function below raises it
    phonenumbers = None  # type: ignore[assignment]
else:
    _ACCEPTED_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
    _TYPE_ERRORS = {
        PhoneNumberType.PREMIUM_RATE: ("premium_rate", _("Premium-rate numbers cannot receive codes.")),
        PhoneNumberType.TOLL_FREE: ("toll_free", _("Toll-free numbers cannot receive codes.")),
        PhoneNumberType.SHARED_COST: ("shared_cost", _("Shared-cost numbers cannot receive codes.")),
    }


def missing_phonenumbers() -> ConfigurationError:
    """The error of a site with neither phonenumbers nor phonenumberslite installed."""
    return ConfigurationError(
        "Neither phonenumbers nor phonenumberslite is installed: django-otp-sms-gateway reads phone numbers "
        "with one of them.",
        check_id=E023,
        hint='pip install "django-otp-sms-gateway[phonenumbers]", or [phonenumberslite]: the same one as '
        "django-two-factor-auth's extra when the site uses it (never both).",
    )


def phonenumbers_problems() -> list[ConfigurationError]:
    """E023 when the phone-number library is missing."""
    return [missing_phonenumbers()] if phonenumbers is None else []


def _require_phonenumbers() -> None:
    if phonenumbers is None:
        raise missing_phonenumbers()


#: The region phonenumbers gives numbers of no country (satellite, international networks).
NON_GEOGRAPHIC_REGION = "001"


def non_geographic_refused(e164: str) -> bool:
    """True for a number of region 001 that ``OTP_SMS_ALLOWED_NON_GEOGRAPHIC`` does not allow."""
    return region_of(e164) == NON_GEOGRAPHIC_REGION and not e164.startswith(settings.OTP_SMS_ALLOWED_NON_GEOGRAPHIC)


def _invalid(message: StrOrPromise, code: str) -> ValidationError:
    return ValidationError(message, code=code)


def normalize_number(value: object, region: str | None = None) -> str:
    """Return ``value`` as an E.164 mobile number (``+4798765432``).

    Raises :class:`~django.core.exceptions.ValidationError` whose ``code``
    names what was wrong: ``required``, ``too_long``, ``control_characters``,
    ``letters``, ``extension``, ``invalid_characters``, ``international_format``,
    ``unknown_country``, ``invalid``, ``short_code``, ``premium_rate``,
    ``toll_free``, ``shared_cost``, ``not_mobile`` or ``non_geographic``.
    Raises the :data:`~django_sms_gateway.checks.E023` ``ConfigurationError``
    when neither phonenumbers nor phonenumberslite is installed, as do the
    other functions here.
    """
    _require_phonenumbers()
    if not isinstance(value, str) or not value.strip():
        raise _invalid(_("Enter a phone number."), "required")
    listed = settings.OTP_SMS_TEST_NUMBERS
    if listed:  # a test number is often in a range no phone has, such as +1 555 0100
        written = "".join(c for c in value.strip() if c not in " -.()/")
        if written in listed:
            return written
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
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if non_geographic_refused(e164):
        raise _invalid(_("Satellite and other non-geographic numbers cannot receive codes."), "non_geographic")
    return e164


def _forget_numbers(*, setting: str, **kwargs: Any) -> None:
    if setting == "OTP_SMS_ALLOWED_NON_GEOGRAPHIC":
        _normalize.cache_clear()


setting_changed.connect(_forget_numbers, dispatch_uid="django_sms_gateway.phone")


@lru_cache(maxsize=4096)
def region_of(e164: str) -> str | None:
    """ISO 3166 region of an E.164 number (``"NO"``), or None if unknown."""
    _require_phonenumbers()
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except NumberParseException:
        return None


@lru_cache(maxsize=4096)
def region_and_type(e164: str) -> tuple[str | None, int | None]:
    """Region and phonenumbers ``PhoneNumberType`` of an E.164 number (None, None if unreadable)."""
    _require_phonenumbers()
    try:
        parsed = phonenumbers.parse(e164, None)
    except NumberParseException:
        return None, None
    return phonenumbers.region_code_for_number(parsed), phonenumbers.number_type(parsed)


@lru_cache(maxsize=4096)  # one login masks the same number several times (logs, records, signals)
def mask_number(e164: str | None) -> str:
    """Hide all but the country code and the last two digits: ``+47******32``."""
    if not e164:
        return ""
    _require_phonenumbers()
    digits = e164.lstrip("+")
    try:
        cc = str(phonenumbers.parse(e164, None).country_code) if e164.startswith("+") else ""
    except NumberParseException:
        cc = ""
    hidden = max(len(digits) - len(cc) - 2, 0)
    return f"+{cc}{'*' * hidden}{digits[len(cc) + hidden:]}"


def national_number(e164: str) -> str:
    """The national form of an E.164 number, digits only (``+6281...`` -> ``081...``)."""
    _require_phonenumbers()
    formatted = phonenumbers.format_number(phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.NATIONAL)
    return "".join(c for c in formatted if c.isdigit())


# -- fixed test numbers -------------------------------------------------------------------------------

logger = logging.getLogger("django_sms_gateway")

#: ``test_number_used``'s actions.
TEST_NUMBER_SENT = "sent"
TEST_NUMBER_VERIFIED = "verified"


@dataclass(frozen=True, slots=True)
class FixedCodeChallenge:
    """What ``SMSDevice.send_code`` returns for a number listed in
    ``OTP_SMS_TEST_NUMBERS``: no text message was sent, and the listed code
    is the challenge. ``number`` is masked."""

    number: str


def report_test_number(sender: Any, device: Any, number: str, action: str) -> FixedCodeChallenge:
    """Log a use of test number ``number`` at WARNING (masked) and send
    ``signals.test_number_used``; ``action`` is :data:`TEST_NUMBER_SENT` or
    :data:`TEST_NUMBER_VERIFIED`."""
    masked = mask_number(number)
    if action == TEST_NUMBER_SENT:
        logger.warning("Test number %s (OTP_SMS_TEST_NUMBERS): no text message sent, its fixed code is the "
                       "challenge", masked)
    else:
        logger.warning("Test number %s (OTP_SMS_TEST_NUMBERS): its fixed code was accepted", masked)
    signals.test_number_used.send(sender=sender, number=masked, device=device, action=action)
    return FixedCodeChallenge(masked)


def _verified_test_number(sender: Any, device: Any = None, **kwargs: Any) -> None:
    number = getattr(device, "number", None)
    if isinstance(number, str) and number in settings.OTP_SMS_TEST_NUMBERS:
        report_test_number(sender, device, number, TEST_NUMBER_VERIFIED)


signals.code_verified.connect(_verified_test_number, dispatch_uid="django_sms_gateway.phone.test_numbers")
