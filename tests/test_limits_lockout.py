"""Sending limits that keep pumping out without locking real users out: sliding windows,
requester budgets first, an owner's own number budget, per-country global budgets, and
counts given back for sends that reached no vendor. Run on locmem and, with REDIS_URL, Redis."""

import os
import uuid
from datetime import timedelta

import pytest
from django.test import override_settings
from freezegun import freeze_time

from django_sms_gateway import limits
from django_sms_gateway.conf import settings as conf_settings
from django_sms_gateway.exceptions import DeliveryFailed, GatewayConnectionError, NoGatewayForNumber, SendLimitExceeded
from tests.fakes import BaseBackend
from tests.limiting import limits_cache, make_device, sending_limits

pytestmark = pytest.mark.django_db

@pytest.fixture(params=["locmem", "redis"])
def cache_entry(request):
    """The limits cache each test runs on: local memory, and Redis when REDIS_URL is set."""
    if request.param == "locmem":
        return limits_cache()
    if not os.environ.get("REDIS_URL"):
        pytest.skip("set REDIS_URL=redis://127.0.0.1:6379/0 to run on Redis")
    return {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ["REDIS_URL"],
        "KEY_PREFIX": f"sms-lockout-{uuid.uuid4().hex}",  # fresh counters for each test
        "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
    }


def sends_until_refused(send, most=50):
    for done in range(most):
        try:
            send()
        except SendLimitExceeded as refused:
            return done, refused
    raise AssertionError(f"{most} sends and no refusal")


# -- sliding windows -----------------------------------------------------------------


def test_no_burst_across_a_window_boundary(cache_entry):
    """A fixed hourly window let 10 sends at 10:59:58 and 10 more at 11:00:01."""
    with sending_limits(cache_entry, user=(10, 3600)), freeze_time("2026-03-02 10:59:58") as clock:
        for _ in range(10):
            limits.check_send("+4798765432", user_id="attacker")
        clock.tick(timedelta(seconds=3))  # 11:00:01, a new hour
        with pytest.raises(SendLimitExceeded) as refused:
            limits.check_send("+4798765432", user_id="attacker")
        # The ten leave the window with their bucket (10:55-11:00) an hour later: at 11:55.
        assert refused.value.retry_after == 55 * 60 - 1
        clock.tick(timedelta(seconds=55 * 60 - 2))
        with pytest.raises(SendLimitExceeded):
            limits.check_send("+4798765432", user_id="attacker")
        clock.tick(timedelta(seconds=1))
        limits.check_send("+4798765432", user_id="attacker")


def test_retry_after_counts_down_to_the_oldest_send_that_must_leave(cache_entry):
    with sending_limits(cache_entry, user=(3, 3600)), freeze_time("2026-03-02 10:00:00") as clock:
        for minutes in (0, 20, 40):  # one send in each of three buckets
            clock.move_to(f"2026-03-02 10:{minutes:02d}:00")
            limits.check_send("+4798765432", user_id="u1")
        clock.move_to("2026-03-02 10:50:00")
        with pytest.raises(SendLimitExceeded) as refused:
            limits.check_send("+4798765432", user_id="u1")
        assert refused.value.retry_after == 10 * 60  # the 10:00 send leaves at 11:00
        assert str(refused.value) == "Too many text messages were requested. Please try again in 10 minutes."
        clock.move_to("2026-03-02 11:00:00")
        limits.check_send("+4798765432", user_id="u1")  # one left; the 10:20 and 10:40 sends remain
        with pytest.raises(SendLimitExceeded) as again:
            limits.check_send("+4798765432", user_id="u1")
        assert again.value.retry_after == 20 * 60


# -- nobody uses up someone else's budget ------------------------------------------------


def test_an_attacker_cannot_use_up_the_number_budget_of_its_owner(cache_entry, sms_outbox):
    victim = make_device("+4798765432")
    with sending_limits(cache_entry, number=(3, 3600)), override_settings(OTP_SMS_COOLDOWN_DURATION=0):
        # Accounts that typed the victim's number (not confirmed) share one budget for it ...
        sent, refused = sends_until_refused(lambda: make_device("+4798765432", confirmed=False).send_code())
        assert (sent, refused.limit) == (3, "number")
        # ... and one whose site confirms devices without a code gets its own budget, not the owner's.
        squatter = make_device("+4798765432")
        sent, _refused = sends_until_refused(squatter.send_code)
        assert sent == 3
        for _ in range(3):
            assert victim.send_code() is not None
        with pytest.raises(SendLimitExceeded):
            victim.send_code()  # the owner's own budget still holds
    assert [m.recipient for m in sms_outbox].count("+4798765432") == 9


def test_an_attacker_pumping_a_range_does_not_refuse_the_owners_in_it(cache_entry, sms_outbox):
    owner = make_device("+4798765432")
    with sending_limits(cache_entry, prefix=(5, 3600)):
        sent, refused = sends_until_refused(lambda: make_device(f"+4798765{uuid.uuid4().int % 1000:03d}",
                                                               confirmed=False).send_code())
        assert (sent, refused.limit) == (5, "prefix")
        assert owner.send_code() is not None


def test_a_send_the_requester_budget_refuses_does_not_touch_the_shared_ones(cache_entry):
    with sending_limits(cache_entry, user=(1, 3600), number=(2, 3600)):
        limits.check_send("+4798765432", user_id="attacker")
        for _ in range(5):
            with pytest.raises(SendLimitExceeded) as refused:
                limits.check_send("+4798765432", user_id="attacker")
            assert refused.value.limit == "user"
        # Only the one send that passed the attacker's budget counts against the number.
        limits.check_send("+4798765432", user_id="someone")
        with pytest.raises(SendLimitExceeded) as refused:
            limits.check_send("+4798765432", user_id="a third")
    assert refused.value.limit == "number"


def test_global_is_a_budget_per_destination_country(cache_entry):
    with sending_limits(cache_entry, **{"global": (2, 3600)}), override_settings(
        OTP_SMS_COUNTRY_LIMITS={"SE": (1, 3600), "dk": None}
    ):
        limits.check_send("+4798765001")
        limits.check_send("+4798765002")
        with pytest.raises(SendLimitExceeded) as refused:
            limits.check_send("+4798765003")
        assert (refused.value.limit, refused.value.retry_after > 3000) == ("global", True)
        limits.check_send("+46701234567")  # Sweden has a budget of its own: 1
        with pytest.raises(SendLimitExceeded):
            limits.check_send("+46701234568")
        for _ in range(5):
            limits.check_send("+4520123456")  # Denmark: no global limit


def test_the_defaults_do_not_refuse_a_busy_site():
    """About 20 logins a second for an hour: 72,000 owners, all in one country."""
    with override_settings(OTP_SMS_LIMITS={}):
        defaults = conf_settings.limits.limits
    [global_limit] = [limit for limit in defaults if limit.name == "global"]
    assert global_limit.count >= 72_000 * 1.2 and global_limit.seconds == 3600
    [number] = [limit for limit in defaults if limit.name == "number"]
    assert number.count >= 3  # a user who fumbles twice still gets in


# -- only a message a vendor may have accepted is charged ---------------------------------------


class RefusedConnectionBackend(BaseBackend):
    """Every connection is refused: the request never left this machine."""

    def send(self, message, *, timeout):
        raise GatewayConnectionError("connection refused", not_sent=True)


def test_a_send_that_reached_no_vendor_gives_its_counts_back(cache_entry, sms_outbox):
    device = make_device("+4798765432")
    down = {"down": {"BACKEND": f"{__name__}.RefusedConnectionBackend"}}
    elsewhere = {"se-only": {"BACKEND": "django_sms_gateway.backends.locmem.LocmemBackend", "COUNTRIES": ["SE"]}}
    with sending_limits(cache_entry, number=(1, 3600), user=(1, 3600)):
        with override_settings(SMS_GATEWAYS=down):
            for _ in range(3):
                with pytest.raises(DeliveryFailed):
                    device.send_code()
        with override_settings(SMS_GATEWAYS=elsewhere):
            for _ in range(3):  # every gateway skipped
                with pytest.raises(NoGatewayForNumber):
                    device.send_code()
        assert device.send_code() is not None  # the outage used up nothing
        with pytest.raises(SendLimitExceeded):
            device.send_code()
    assert len(sms_outbox) == 1


def test_a_failure_may_have_sent_only_when_an_attempt_could_have_reached_a_vendor():
    from django_sms_gateway.exceptions import Attempt, DeliveryFailed, GatewayTimeout

    refused = GatewayConnectionError("connection refused", not_sent=True)
    skipped = Attempt("a", "skipped", "open circuit")
    assert not DeliveryFailed([skipped, Attempt("b", "failed", "connection refused", 0.0, refused)]).may_have_sent
    assert DeliveryFailed([Attempt("a", "failed", "timeout", 1.0, GatewayTimeout("timeout"))]).may_have_sent


def test_a_second_release_gives_nothing_back(cache_entry):
    with sending_limits(cache_entry, user=(1, 3600)):
        reservation = limits.check_send("+4798765432", user_id="u")
        reservation.release()
        reservation.release()
        limits.check_send("+4798765432", user_id="u")
        with pytest.raises(SendLimitExceeded):
            limits.check_send("+4798765432", user_id="u")


def test_two_factor_sends_that_reached_no_vendor_give_their_counts_back(cache_entry, sms_outbox, user):
    pytest.importorskip("two_factor", reason="install the test extra (django-two-factor-auth)")
    from two_factor.plugins.phonenumber.models import PhoneDevice

    from django_sms_gateway.integrations.two_factor import GATEWAY_PATH

    phone = PhoneDevice.objects.create(user=user, name="default", number="+4798765432", method="sms")
    down = {"down": {"BACKEND": f"{__name__}.RefusedConnectionBackend"}}
    with sending_limits(cache_entry, number=(1, 3600)), override_settings(TWO_FACTOR_SMS_GATEWAY=GATEWAY_PATH):
        with override_settings(SMS_GATEWAYS=down):
            for _ in range(2):
                with pytest.raises(DeliveryFailed):
                    phone.generate_challenge()
        phone.generate_challenge()
        with pytest.raises(SendLimitExceeded):
            phone.generate_challenge()
    assert len(sms_outbox) == 1
