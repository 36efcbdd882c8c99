"""Property-based tests (hypothesis): number normalisation, code
verification, and segment counting against a reference model.

tests/test_text.py has bounds checks of segment counting; here the count
is compared with an independent septet/unit-by-unit model.
"""

from __future__ import annotations

import re

import phonenumbers
import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from django_sms_gateway.models import SMSDevice
from django_sms_gateway.phone import normalize_number
from django_sms_gateway.testing import last_code
from django_sms_gateway.text import GSM7, UCS2, segment_info

E164 = re.compile(r"\+[1-9]\d{7,14}")

# -- numbers -------------------------------------------------------------------------------------

#: Real mobile numbers of a few regions, written in the ways people write them.
mobile_numbers = st.sampled_from(["NO", "SE", "DK", "FI", "GB", "DE", "US", "ID", "FR"]).map(
    lambda region: phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
)
number_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="0123456789+ -.()/", max_size=24),
    st.builds(lambda prefix, rest: prefix + rest, st.sampled_from(["+47", "+46", "+1", "+999", "+"]),
              st.text(alphabet="0123456789 ", max_size=14)),
)


@settings(max_examples=300)
@given(number_text, st.sampled_from([None, "NO", "US"]))
@example("+47 987 65 432", None)
@example("\u0660", None)
def test_normalize_raises_only_validation_errors_and_returns_e164(raw, region):
    try:
        number = normalize_number(raw, region)
    except ValidationError as exc:
        assert exc.code and str(exc.message)
        return
    assert E164.fullmatch(number)
    assert normalize_number(number) == number  # idempotent on its output
    assert normalize_number(number, "SE") == number  # and the region no longer matters


@settings(max_examples=100)
@given(mobile_numbers, st.sampled_from(
    [phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL]
), st.sampled_from(["", " ", "  \n"]))
def test_every_written_form_of_a_mobile_number_normalises_to_the_same_e164(number, form, padding):
    written = padding + phonenumbers.format_number(number, form) + padding
    expected = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    assert normalize_number(written) == expected


@settings(max_examples=200)
@given(st.from_type(object).filter(lambda v: not isinstance(v, str)))
def test_normalize_refuses_non_strings_as_required(value):
    with pytest.raises(ValidationError) as info:
        normalize_number(value)
    assert info.value.code == "required"


# -- verification ----------------------------------------------------------------------------------

candidates = st.one_of(
    st.text(max_size=10),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
    st.integers(min_value=-10, max_value=10**7),
    st.none(),
    st.binary(max_size=8),
    st.floats(allow_nan=True),
)


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(guesses=st.lists(candidates, max_size=4))
def test_only_the_right_code_is_ever_accepted_and_only_once(device, sms_outbox, settings, guesses):
    settings.OTP_SMS_THROTTLE_FACTOR = 0
    device.generate_challenge()
    code = last_code()
    for guess in guesses:
        assume(not (isinstance(guess, str) and guess.strip() == code))
        assume(not (isinstance(guess, int) and str(guess) == code))
    for guess in guesses:
        assert device.verify_token(guess) is False
    assert device.verify_token(code) is True
    assert device.verify_token(code) is False
    assert SMSDevice.objects.get(pk=device.pk).verify_token(code) is False


# -- segment counting against a reference model ----------------------------------------------------

BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENSION = "^{}\\[~]|€\f"
OTHER_BMP = "çÀ`´ąęłżśćńšžøœ€αβγдж中文한국語"  # mostly outside GSM-7 (ø, € are in it)
ASTRAL = "😀🎉𝄞🇳🇴"


def reference_segments(text: str) -> tuple[str, int, int]:
    """(encoding, units, parts) by the rules, written without the package's helpers:
    GSM-7 if all characters are in the basic or extension table (extension = 2
    septets); else UCS-2 in UTF-16 code units. One SMS holds 160/70; a long
    text goes in parts of 153/67, and a 2-unit pair never straddles parts."""
    if all(c in BASIC or c in EXTENSION for c in text):
        encoding, sizes, single, per_part = GSM7, [2 if c in EXTENSION else 1 for c in text], 160, 153
    else:
        encoding, single, per_part = UCS2, 70, 67
        sizes = [len(c.encode("utf-16-le")) // 2 for c in text]
    units = sum(sizes)
    if units <= single:
        return encoding, units, (1 if units else 0)
    parts, room = 1, per_part
    for size in sizes:
        if size > room:
            parts, room = parts + 1, per_part
        room -= size
    return encoding, units, parts


gsm_text = st.text(alphabet=BASIC + EXTENSION, max_size=480)
mixed_text = st.text(alphabet=BASIC + EXTENSION + OTHER_BMP + ASTRAL, max_size=240)
#: Texts right at the 160/153 and 70/67 boundaries, with a two-unit character at the edge.
boundary_text = st.builds(
    lambda filler, n, tail: filler * n + tail,
    st.sampled_from(["a", "€", "ç", "😀"]),
    st.sampled_from([66, 67, 68, 69, 70, 71, 133, 134, 152, 153, 154, 159, 160, 161, 305, 306, 307]),
    st.sampled_from(["", "a", "€", "ç", "😀", "€€"]),
)


@settings(max_examples=400)
@given(st.one_of(gsm_text, mixed_text, boundary_text, st.text(max_size=200)))
def test_segment_info_matches_the_reference_model(text):
    info = segment_info(text)
    assert (info.encoding, info.units, info.segments) == reference_segments(text)


@given(st.text(alphabet=BASIC, min_size=161, max_size=600))
def test_long_basic_gsm_text_goes_in_parts_of_153(text):
    assert segment_info(text).segments == -(-len(text) // 153)
