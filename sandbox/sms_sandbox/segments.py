"""How many SMS parts a text is sent as, the count vendors bill and report.

From 3GPP TS 23.038 (the GSM 7-bit default alphabet and its extension table)
and TS 23.040 (concatenation): a text made only of characters of the default
alphabet travels as GSM-7, one septet each and two for a character of the
extension table (an escape, then the character); any other text travels as
UCS-2, one UTF-16 unit each and two for a character outside the Basic
Multilingual Plane. One SMS holds 160 septets or 70 units; a longer text is
cut into parts of 153 septets or 67 units (the concatenation header takes
the rest), and a two-unit character always stays within one part.
"""

from __future__ import annotations

__all__ = ["is_gsm7", "segments"]

# The default alphabet in code-point order, 0x00 to 0x7F (0x1B is the escape).
_DEFAULT_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
_EXTENSION_TABLE = "\f^{}\\[~]|€"

_SEPTETS: dict[str, int] = {**dict.fromkeys(_DEFAULT_ALPHABET, 1), **dict.fromkeys(_EXTENSION_TABLE, 2)}

# (units in a single SMS, units in each part of a concatenated one)
_GSM7_SIZES = (160, 153)
_UCS2_SIZES = (70, 67)


def is_gsm7(text: str) -> bool:
    """True when every character of ``text`` can be sent in GSM-7."""
    return all(char in _SEPTETS for char in text)


def segments(text: str) -> int:
    """The number of SMS parts ``text`` is sent as; 0 for an empty text."""
    if is_gsm7(text):
        costs = [_SEPTETS[char] for char in text]
        single, part = _GSM7_SIZES
    else:
        costs = [1 if ord(char) <= 0xFFFF else 2 for char in text]
        single, part = _UCS2_SIZES
    if sum(costs) <= single:
        return 1 if costs else 0
    parts, room = 1, part
    for cost in costs:
        if cost > room:
            parts, room = parts + 1, part
        room -= cost
    return parts
