"""GSM-7 / UCS-2 detection and segment counting, and template checks."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from django_sms_gateway.text import GSM7, UCS2, TemplateError, compile_template, segment_info


@pytest.mark.parametrize(
    "text, encoding, units, segments",
    [
        ("", GSM7, 0, 0),
        ("a" * 160, GSM7, 160, 1),
        ("a" * 161, GSM7, 161, 2),
        ("a" * 306, GSM7, 306, 2),
        ("a" * 307, GSM7, 307, 3),
        ("€" * 80, GSM7, 160, 1),  # extension characters cost two septets
        ("€" * 81, GSM7, 162, 2),
        ("a" * 152 + "€" + "a" * 10, GSM7, 164, 2),  # the escape pair is not split
        ("ç" + "a" * 69, UCS2, 70, 1),  # lowercase c-cedilla is not GSM-7
        ("`" + "a" * 70, UCS2, 71, 2),
        ("😀" * 35, UCS2, 70, 1),  # outside the BMP: two units each
        ("😀" * 36, UCS2, 72, 2),
        ("Kode: 123456 æøå ÆØÅ", GSM7, 20, 1),
    ],
)
def test_segments(text, encoding, units, segments):
    info = segment_info(text)
    assert (info.encoding, info.units, info.segments) == (encoding, units, segments)


@given(st.text(max_size=600))
def test_segment_count_bounds(text):
    info = segment_info(text)
    single, part = (160, 153) if info.encoding == GSM7 else (70, 67)
    if info.units <= single:
        assert info.segments == (1 if info.units else 0)
    else:
        # never fewer parts than the units need, at most one extra for unsplittable pairs per part
        assert -(-info.units // part) <= info.segments <= -(-info.units // (part - 1))


@given(st.text(alphabet="abcdefghij0123456789 ", max_size=500))
def test_plain_gsm_text_is_gsm7(text):
    assert segment_info(text).encoding == GSM7


@pytest.mark.parametrize(
    "source, problem",
    [
        ("no placeholder", "must contain {token}"),
        ("{code}", "unknown placeholder {code}"),
        ("{token:>10}", "format spec"),
        ("{token", "malformed"),
    ],
)
def test_bad_templates(source, problem):
    with pytest.raises(TemplateError, match=problem):
        compile_template(source)


def test_template_renders_and_measures_worst_case():
    tpl = compile_template("{site_name}: {token} ({minutes} min)")
    assert tpl.render("123456", minutes=5, site_name="Acme") == "Acme: 123456 (5 min)"
    assert tpl.worst_case(6, minutes=5, site_name="Acme").units == len("Acme: 999999 (5 min)")
    assert compile_template("{token}") is compile_template("{token}")


@given(
    literal=st.text(alphabet=st.sampled_from("Aa9 .,é€{}[]~Ωßñ😀漢"), max_size=200).map(
        lambda s: s.replace("{", "{{").replace("}", "}}")
    ),
    code=st.from_regex(r"\A[0-9]{4,10}\Z"),
    minutes=st.integers(min_value=1, max_value=1440),
)
def test_a_messages_segments_are_those_of_its_text(literal, code, minutes):
    from django_sms_gateway.backends.base import SMSMessage

    template = compile_template(literal + "{token} {minutes}")
    text = template.render(code, minutes=minutes)
    message = SMSMessage(recipient="+4798765432", text=text, code=code, validity=minutes * 60, template=template)
    assert message.segment_info() == segment_info(text)


def test_a_text_not_from_the_template_is_counted_itself():
    from django_sms_gateway.backends.base import SMSMessage

    template = compile_template("Code {token}")
    message = SMSMessage(recipient="+4798765432", text="Kode 123456 — ΩΩΩ", code="123456", template=template)
    assert message.segment_info() == segment_info("Kode 123456 — ΩΩΩ")
