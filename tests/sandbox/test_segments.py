"""The sandbox's own count of SMS parts (3GPP TS 23.038 and 23.040), which the
imitations report as the vendors do."""

import pytest

from sms_sandbox.segments import is_gsm7, segments


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("", 0),
        ("a", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # an extension character is two septets
        ("€" * 81, 2),
        ("a" * 152 + "€" + "a" * 152, 3),  # 306 septets, but the escape pair is not split at 153
        ("ж" * 70, 1),
        ("ж" * 71, 2),
        ("ж" * 134, 2),
        ("ж" * 135, 3),
        ("😀" * 35, 1),  # outside the BMP: a surrogate pair, two units
        ("😀" * 36, 2),
        ("ж" * 66 + "😀" + "ж" * 66, 3),  # 134 units, but the surrogate pair is not split at 67
    ],
)
def test_parts(text, parts):
    assert segments(text) == parts


def test_gsm7_alphabet_and_extension_table():
    assert is_gsm7("Your code is 123456 @ £$¥ èéùìò ÆØÅ æøå ß ÄÖÑÜ§ ¿¡ {}[]~^|\\€\n")
    assert not is_gsm7("ç")  # only the capital Ç is in the default alphabet
    assert not is_gsm7("ж") and not is_gsm7("😀") and not is_gsm7("`")
    assert is_gsm7("")


def test_one_character_outside_gsm7_makes_the_whole_text_ucs2():
    assert segments("a" * 69 + "ж") == 1
    assert segments("a" * 70 + "ж") == 2
