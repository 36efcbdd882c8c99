"""manage.py sendtestsms: a labelled test text through the chain, one gateway or each in turn."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from django_sms_gateway.models import DeliveryRecord
from tests import fakes
from tests.fakes import FAIL, OK

pytestmark = pytest.mark.django_db

LOCMEM = "django_sms_gateway.backends.locmem.LocmemBackend"
NUMBER = "+4798765432"


def run(*args, **gateways):
    out = StringIO()
    with override_settings(SMS_GATEWAYS=gateways, OTP_SMS_SITE_NAME="Acme"):
        call_command("sendtestsms", *args, stdout=out, no_color=True)
    return out.getvalue()


def rows(output):
    """(gateway, outcome) of each attempt line."""
    lines = output.splitlines()[2:]
    return [tuple(line.split()[:2]) for line in lines if line.split()[1:2] in (["sent"], ["failed"], ["skipped"])]


def test_chain_shows_the_fallback_and_sends_a_labelled_test_text(sms_outbox):
    output = run(NUMBER, down={"BACKEND": FAIL, "OPTIONS": {"error": "GatewayTimeout"}}, up={"BACKEND": LOCMEM})
    assert rows(output) == [("down", "failed"), ("up", "sent")]
    assert "made to fail" in output and " ms " in output and "Delivered by up." in output
    assert "through the chain: down -> up" in output
    [message] = sms_outbox
    assert message.text == "Test message from Acme: 123456. This is not a login code."
    assert message.recipient == NUMBER and message.gateway == "up"
    assert fakes.calls[0][2] == "123456"  # the same labelled digits went to the failing vendor


def test_output_shows_only_the_masked_number(sms_outbox):
    output = run("+47 987 65 432", a={"BACKEND": LOCMEM})
    assert "+47******32" in output and "98765432" not in output


def test_one_gateway(sms_outbox):
    output = run(NUMBER, "--gateway", "second", first={"BACKEND": OK}, second={"BACKEND": LOCMEM})
    assert rows(output) == [("second", "sent")] and fakes.calls == []
    assert sms_outbox[0].gateway == "second"


def test_one_failing_gateway_exits_non_zero_without_trying_others(sms_outbox):
    with pytest.raises(CommandError, match="Nothing was delivered"):
        run(NUMBER, "--gateway", "first", first={"BACKEND": FAIL}, second={"BACKEND": LOCMEM})
    assert [c[0] for c in fakes.calls] == ["first"] and sms_outbox == []


def test_all_sends_through_each_gateway_in_turn(sms_outbox):
    out = run(NUMBER, "--all", a={"BACKEND": LOCMEM}, b={"BACKEND": FAIL}, c={"BACKEND": OK})
    assert rows(out) == [("a", "sent"), ("b", "failed"), ("c", "sent")]
    assert "Delivered by a, c (2 of 3 gateways)." in out
    assert len(sms_outbox) == 1 and [c[0] for c in fakes.calls] == ["b", "c"]


def test_skipped_gateway_says_why(sms_outbox):
    out = run(NUMBER, "--all", se={"BACKEND": OK, "COUNTRIES": ["SE"]}, no={"BACKEND": LOCMEM})
    assert rows(out) == [("se", "skipped"), ("no", "sent")] and "does not serve NO" in out


def test_nothing_delivered_is_a_non_zero_exit(sms_outbox):
    with pytest.raises(CommandError, match="Nothing was delivered"):
        run(NUMBER, a={"BACKEND": FAIL}, b={"BACKEND": FAIL, "OPTIONS": {"error": "GatewayAuthError"}})
    with pytest.raises(CommandError, match="Nothing was delivered"):
        run(NUMBER, "--all", a={"BACKEND": FAIL})


def test_test_sends_are_not_delivery_records(sms_outbox):
    run(NUMBER, a={"BACKEND": FAIL}, b={"BACKEND": LOCMEM})
    assert not DeliveryRecord.objects.exists()


@pytest.mark.parametrize(
    ("number", "says"),
    [
        ("98765432", "country code"),
        ("+47 98x65432", "digits only"),
        ("+4780012345", "Toll-free"),
        ("", "Enter a phone number"),
    ],
)
def test_bad_number_is_a_clear_error(number, says, sms_outbox):
    with pytest.raises(CommandError, match=says) as info:
        run(number, a={"BACKEND": LOCMEM})
    assert repr(number) in str(info.value) and sms_outbox == []


def test_unknown_gateway_lists_the_configured_ones(sms_outbox):
    with pytest.raises(CommandError, match=r"No gateway 'nope' in SMS_GATEWAYS \(configured: a, b\)"):
        run(NUMBER, "--gateway", "nope", a={"BACKEND": LOCMEM}, b={"BACKEND": OK})


def test_misconfigured_gateways_are_a_command_error(sms_outbox):
    with pytest.raises(CommandError, match="SMS_GATEWAYS is misconfigured.*manage.py check"):
        run(NUMBER, a={"BACKEND": "nope.Backend"})


def test_gateway_and_all_exclude_each_other(sms_outbox):
    with pytest.raises(CommandError, match="not allowed with"):
        run(NUMBER, "--all", "--gateway", "a", a={"BACKEND": LOCMEM})
