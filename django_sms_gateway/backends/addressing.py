"""Sender IDs and recipient numbers in the shapes SMS vendors accept.

Signicat documents the sender rule (numeric up to 15 digits, or 1-11
characters of ``[A-Za-z0-9 ]``) and the recipient rule (E.164, at most 15
digits). Other vendors that take a free sender field use the same rule.
A vendor that wants the number in another form takes it from
:data:`PHONE_FORMATS`.
"""

from __future__ import annotations

import re

import phonenumbers

#: ``+`` optional, then 1-15 digits.
NUMERIC_SENDER = re.compile(r"\+?[0-9]{1,15}")
#: 1-11 letters, digits and spaces (the GSM alphanumeric originator limit).
ALPHANUMERIC_SENDER = re.compile(r"[A-Za-z0-9 ]{1,11}")
#: ``+``, a country code not starting with 0, at most 15 digits in all.
E164_NUMBER = re.compile(r"\+[1-9][0-9]{1,14}")


def sender_problem(sender: object) -> str | None:
    """Why ``sender`` is not a valid sender ID, or None when it is."""
    if not isinstance(sender, str):
        return f"must be a string, not {type(sender).__name__}"
    if NUMERIC_SENDER.fullmatch(sender):
        return None
    if ALPHANUMERIC_SENDER.fullmatch(sender) and sender.strip():
        return None
    return (
        "must be numeric (up to 15 digits, optionally starting with +) or "
        "alphanumeric (1 to 11 characters of A-Z, a-z, 0-9 and space)"
    )


def is_e164(number: object) -> bool:
    """True for an E.164 number such as ``+4798765432``."""
    return isinstance(number, str) and E164_NUMBER.fullmatch(number) is not None


def national_number(recipient: str) -> str:
    """The national form of an E.164 number, digits only (``+6281...`` -> ``081...``)."""
    formatted = phonenumbers.format_number(phonenumbers.parse(recipient), phonenumbers.PhoneNumberFormat.NATIONAL)
    return "".join(c for c in formatted if c.isdigit())


#: The number formats a vendor option may name -> that form of an E.164 number.
PHONE_FORMATS = {
    "e164": lambda recipient: recipient,
    "digits": lambda recipient: recipient.lstrip("+"),
    "national": national_number,
}
