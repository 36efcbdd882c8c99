"""Vendor error text becomes a short reason without codes, secrets or numbers."""

import pytest

from django_sms_gateway.backends.http import UNLISTED, scrub, summarize
from django_sms_gateway.exceptions import GatewayError


def test_joins_and_masks_the_recipient_and_secrets():
    reason = summarize(
        ["recipient +4798765432 is not allowed", "message 'Code 123456' too long", "key s3cret bad"],
        recipient="+4798765432", secrets=("123456", "s3cret"),
    )
    assert reason == "recipient +47******32 is not allowed; message 'Code ***' too long; key *** bad"


def test_number_without_plus_is_masked_too():
    assert "98765432" not in summarize(["to 4798765432"], recipient="+4798765432")


def test_control_characters_and_non_text_are_dropped_and_length_is_bounded():
    reason = summarize(["a\nb\x00c", None, 5, {"x": 1}, "y" * 500], limit=50)
    assert reason.startswith("a b c; yyy") and len(reason) == 50 and reason.endswith("…")
    assert "\n" not in reason and "\x00" not in reason


def test_nothing_usable_gives_empty_reason():
    assert summarize([None, "   "]) == ""


NUMBER = "+4798765432"


@pytest.mark.parametrize(
    "written",
    ["+4798765432", "4798765432", "98765432", "+47 987 65 432", "0047-987-65-432", "(+47) 98.76.54.32",
     "987 65 432"],
)
def test_the_number_is_masked_in_any_format(written):
    reason = summarize([f"recipient {written} is blocked"], recipient=NUMBER)
    assert not any(run in reason for run in ("98765432", "987 65 432", "98.76", "987-65", "65 432"))
    assert reason.startswith("recipient ") and reason.endswith(" is blocked")


@pytest.mark.parametrize("written", ["123456", "123 456", "12-34-56", "1 2 3 4 5 6"])
def test_the_code_is_masked_with_spaces_or_dashes(written):
    reason = summarize([f"text 'Your code is {written}' refused"], secrets=("123456",))
    assert "123" not in reason and "456" not in reason and "34" not in reason


@pytest.mark.parametrize("echo", ["Basic dXNlcjpwQHNz", "Bearer eyJhbGciOi.abc-def", "ApiKey k-123"])
def test_an_echoed_authorization_header_is_masked(echo):
    reason = summarize([f"Authorization: {echo} was not accepted"])
    assert echo.split()[1] not in reason and reason.startswith("Authorization: ")


def test_numbers_elsewhere_in_vendor_text_are_masked_too():
    assert scrub("call 555 0100 or see ticket 20261201") == "call *** or see ticket ***"
    assert scrub("HTTP 400") == "HTTP 400"  # three digits: a status, not a number


def test_with_a_known_list_only_known_messages_are_kept():
    known = ["INVALID_ARGUMENT", "The sms property 'message' has to be set"]
    reason = summarize(
        ["the sms property 'MESSAGE'  has to be set.", "recipient +4798765432 echoed back", "invalid_argument"],
        known=known, recipient=NUMBER,
    )
    assert reason == f"The sms property 'message' has to be set; INVALID_ARGUMENT; {UNLISTED}"


def test_a_known_mapping_says_our_words():
    assert summarize(["E42"], known={"E42": "sender not allowed"}) == "sender not allowed"
    assert summarize(["E42", "E42"], known={"E42": "sender not allowed"}) == "sender not allowed"
    assert summarize(["oops: key s3cret"], known={"E42": "x"}) == UNLISTED
    assert summarize([], known=["E42"]) == ""


def test_a_vendor_400_echoing_our_request_leaves_no_secret_in_the_reason(built_backends):
    """Over real HTTP: a 400 whose text repeats the API key, the number in a
    national format and the code with spaces."""
    from django_sms_gateway.dispatch import build_message

    from .helpers import gateway_entry
    from .hostile import Hostile

    echo = (b'{"errors": [{"description": "key zk-live-7f3a9 with Authorization: zk-live-7f3a9 may not send '
            b'to 987 65 432 the text Your code is 123 456"}]}')
    answer = b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(echo)
    server = Hostile(lambda: iter([answer + echo]), pause=0)
    backend = built_backends("zignsec", gateway_entry("zignsec", None, base_url=server.url, api_key="zk-live-7f3a9"))
    try:
        with pytest.raises(GatewayError) as info:
            backend.send(build_message(NUMBER, "123456", validity=300), timeout=2)
    finally:
        server.close()
    reason = info.value.reason
    assert "zk-live" not in reason and "987 65" not in reason and "65 432" not in reason
    assert "123" not in reason and "456" not in reason
