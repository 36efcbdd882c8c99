"""Which vendor answers count against the vendor's circuit breaker, over real
HTTP against the sandbox: a limit a vendor puts on one recipient (whoever
types the number can reach it) fails over to the next gateway without
counting, however often it happens; the vendor's own fault counts, and the
breaker opens after the threshold (3 here)."""

from __future__ import annotations

import pytest
from django.test import override_settings

from django_sms_gateway import breaker
from django_sms_gateway.dispatch import gateways, send_code
from django_sms_gateway.exceptions import (
    DeliveryFailed,
    GatewayRateLimited,
    GatewayUnavailable,
    RecipientRateLimited,
    RequestRejected,
)

from .helpers import LOCMEM_ENTRY, NUMBER, gateway_entry

CODE = "271828"
#: More sends than the breaker's threshold.
MANY = 5


def walk(number: str = NUMBER) -> list[tuple[str, str, type[Exception] | None]]:
    """One challenge's walk: (alias, outcome, error class) per attempt."""
    try:
        attempts = send_code(number, CODE).attempts
    except DeliveryFailed as failure:
        attempts = failure.attempts
    return [(a.alias, a.outcome, type(a.error) if a.error else None) for a in attempts]


def failures(alias: str) -> int:
    return breaker.states([gateways[alias]])[alias].failures


def first_then_backup(vendor: str, sandbox) -> override_settings:
    return override_settings(SMS_GATEWAYS={vendor: gateway_entry(vendor, sandbox), "backup": LOCMEM_ENTRY})


def test_twilio_verify_max_send_attempts_is_the_recipients_and_fails_over_uncounted(sandbox, sms_outbox):
    """60203: Verify sends one verification at most five times."""
    with first_then_backup("twilio-verify", sandbox):
        for _ in range(5):
            assert walk() == [("twilio-verify", "sent", None)]
        for _ in range(MANY):
            assert walk() == [("twilio-verify", "failed", RecipientRateLimited), ("backup", "sent", None)]
        assert failures("twilio-verify") == 0
    assert len(sms_outbox) == MANY


def test_twilio_verify_20429_is_about_the_number_but_messages_20429_is_about_the_account(sandbox, sms_outbox):
    sandbox.set_fault("twilio-verify", "429")  # Twilio's 429 document, code 20429
    with first_then_backup("twilio-verify", sandbox):
        for _ in range(MANY):
            assert walk() == [("twilio-verify", "failed", RecipientRateLimited), ("backup", "sent", None)]
        assert failures("twilio-verify") == 0
    sandbox.set_fault("twilio", "429")
    with first_then_backup("twilio", sandbox):
        walks = [walk() for _ in range(MANY)]
    assert walks[2] == [("twilio", "failed", GatewayRateLimited), ("backup", "sent", None)]
    assert walks[3] == [("twilio", "skipped", None), ("backup", "sent", None)]  # its circuit opened


def test_infobip_flooding_filter_is_the_recipients_and_fails_over_uncounted(sandbox, sms_outbox):
    """Infobip takes 6 identical messages an hour to one number, then
    answers REJECTED_FLOODING_FILTER."""
    with first_then_backup("infobip", sandbox):
        for _ in range(6):
            assert walk() == [("infobip", "sent", None)]
        for _ in range(MANY):
            assert walk() == [("infobip", "failed", RecipientRateLimited), ("backup", "sent", None)]
        assert failures("infobip") == 0
    assert len(sandbox.messages) == 6


def test_infobip_system_error_is_infobips_and_counts(sandbox, sms_outbox):
    sandbox.set_fault("infobip", "system-error")
    with first_then_backup("infobip", sandbox):
        walks = [walk() for _ in range(MANY)]
        assert failures("infobip") == 3
    assert walks[:3] == [[("infobip", "failed", GatewayUnavailable), ("backup", "sent", None)]] * 3
    assert walks[3] == [("infobip", "skipped", None), ("backup", "sent", None)]


def test_sinch_illegal_number_type_is_tied_to_its_region_so_the_next_vendor_sends(sandbox, sms_outbox):
    with first_then_backup("sinch", sandbox):
        for _ in range(MANY):
            assert walk("+15005550006") == [("sinch", "failed", RequestRejected), ("backup", "sent", None)]
        assert failures("sinch") == 0
    assert [message.recipient for message in sms_outbox] == ["+15005550006"] * MANY


@pytest.mark.parametrize(("error", "counts"), [(RecipientRateLimited, False), (GatewayRateLimited, True)])
def test_a_limit_on_one_recipient_is_a_rate_limit_that_does_not_count(error, counts):
    assert issubclass(error, GatewayRateLimited) and error.retry_next
    assert error.counts_against_vendor is counts
