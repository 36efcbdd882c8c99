"""Vendor error text becomes a short reason without codes, secrets or numbers."""

from django_sms_gateway.backends.vendor_text import summarize


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
