"""Sending limits: each limit refuses the send after its budget, before anything is written or sent."""

import logging
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.test import RequestFactory, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from freezegun import freeze_time

from django_sms_gateway import checks, signals
from django_sms_gateway.conf import LIMIT_NAMES
from django_sms_gateway.conf import settings as conf_settings
from django_sms_gateway.exceptions import DeliveryFailed, SendLimitExceeded, SMSUnavailable
from django_sms_gateway.limits import counters
from django_sms_gateway.middleware import SMSRequestMiddleware
from django_sms_gateway.models import DeliveryRecord, SMSDevice
from django_sms_gateway.text import whole_minutes
from tests.limiting import NUMBER, limits_cache, make_device, sending_limits

pytestmark = pytest.mark.django_db

GENERIC = "Too many text messages were requested. Please try again later."


def try_again_in(seconds):
    minutes = whole_minutes(seconds)
    return f"Too many text messages were requested. Please try again in {minutes} minute{'s' * (minutes != 1)}."


class UnreachableCache(LocMemCache):
    """A cache whose server is down: every operation raises, as redis-py does."""

    def _fail(self, *args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")

    get = set = add = incr = decr = delete = get_many = set_many = _fail


@pytest.fixture
def hits():
    received = []

    def on_hit(sender, signal, **kwargs):
        received.append(kwargs)

    signals.limit_hit.connect(on_hit)
    yield received
    signals.limit_hit.disconnect(on_hit)


def row_state(device):
    return SMSDevice.objects.filter(pk=device.pk).values_list("token", "last_generated_timestamp", "valid_until").get()


def assert_refused_without_trace(device, sms_outbox, *, limit, request=None):
    """The send is refused: no query at all, no SMS, no delivery record."""
    before = (row_state(device), len(sms_outbox), DeliveryRecord.objects.count())
    with CaptureQueriesContext(connection) as queries, pytest.raises(SendLimitExceeded) as refused:
        device.generate_challenge(request)
    assert queries.captured_queries == []
    assert (row_state(device), len(sms_outbox), DeliveryRecord.objects.count()) == before
    assert refused.value.limit == limit
    return refused.value


# -- each counter ------------------------------------------------------------


def test_number_limit_refuses_the_next_send_and_writes_nothing(sms_outbox, hits):
    device = make_device()
    with sending_limits(number=(3, 3600)):
        for _ in range(3):
            device.generate_challenge()
        refused = assert_refused_without_trace(device, sms_outbox, limit="number")
    assert len(sms_outbox) == 3
    assert 3300 <= refused.retry_after <= 3600  # the first of the three leaves the window in about an hour
    assert str(refused) == try_again_in(refused.retry_after)
    [hit] = hits
    assert hit["limit"] == "number" and hit["number"] == "+47******32" and hit["retry_after"] == refused.retry_after
    assert hit["key"].startswith("number:") and "98765432" not in hit["key"]


def test_a_send_leaves_the_window_a_window_after_it_was_made(sms_outbox):
    device = make_device()
    with sending_limits(number=(1, 60)), freeze_time("2026-03-02 10:00:05") as clock:
        device.generate_challenge()
        clock.tick(timedelta(seconds=1))  # frozen time: the same instant is still the (zero) cooldown
        with pytest.raises(SendLimitExceeded) as refused:
            device.generate_challenge()
        assert refused.value.retry_after == 59
        clock.tick(timedelta(seconds=58))
        with pytest.raises(SendLimitExceeded):
            device.generate_challenge()
        clock.tick(timedelta(seconds=1))
        device.generate_challenge()
    assert len(sms_outbox) == 2


def test_prefix_groups_neighbouring_numbers(sms_outbox):
    with sending_limits(prefix=(2, 3600)), override_settings(OTP_SMS_LIMIT_PREFIX_DIGITS=3):
        make_device("+4798765001", confirmed=False).generate_challenge()
        make_device("+4798765999", confirmed=False).generate_challenge()
        assert_refused_without_trace(make_device("+4798765432", confirmed=False), sms_outbox, limit="prefix")
        make_device("+4798766432", confirmed=False).generate_challenge()  # another range of a thousand numbers
        make_device("+4798765432").generate_challenge()  # its confirmed owner: the range's budget is not theirs
    assert [m.recipient for m in sms_outbox] == ["+4798765001", "+4798765999", "+4798766432", "+4798765432"]


def test_user_limit_counts_all_of_a_users_phones(sms_outbox, user):
    phones = [SMSDevice.objects.create(user=user, name=f"p{i}", number=f"+479876543{i}") for i in range(3)]
    with sending_limits(user=(2, 3600)):
        phones[0].generate_challenge()
        phones[1].generate_challenge()
        assert_refused_without_trace(phones[2], sms_outbox, limit="user")
        make_device("+4798765439").generate_challenge()  # another user
    assert len(sms_outbox) == 3


def test_ip_limit_from_the_request_passed_in(sms_outbox):
    factory = RequestFactory()
    here, there = factory.post("/", REMOTE_ADDR="203.0.113.7"), factory.post("/", REMOTE_ADDR="203.0.113.8")
    with sending_limits(ip=(2, 3600)):
        make_device("+4798765001").generate_challenge(here)
        make_device("+4798765002").generate_challenge(here)
        assert_refused_without_trace(make_device("+4798765003"), sms_outbox, limit="ip", request=here)
        make_device("+4798765004").generate_challenge(there)
        make_device("+4798765005").generate_challenge()  # no request, no middleware: the ip limit cannot apply
    assert len(sms_outbox) == 4


def test_ip_limit_from_the_middleware_when_no_request_is_passed(sms_outbox):
    """django-otp's OTPTokenForm calls generate_challenge() without the request."""
    request = RequestFactory().post("/", REMOTE_ADDR="203.0.113.7")
    devices = [make_device(f"+479876500{i}") for i in range(3)]
    with sending_limits(ip=(2, 3600)):
        for device in devices[:2]:
            SMSRequestMiddleware(lambda request, device=device: device.generate_challenge())(request)
        with pytest.raises(SendLimitExceeded):
            SMSRequestMiddleware(lambda request: devices[2].generate_challenge())(request)
        # A request passed explicitly wins over the one the middleware keeps.
        other = RequestFactory().post("/", REMOTE_ADDR="198.51.100.1")
        SMSRequestMiddleware(lambda request: devices[2].generate_challenge(other))(request)
    assert len(sms_outbox) == 3


def test_ipv6_clients_are_counted_per_64(sms_outbox):
    factory = RequestFactory()
    with sending_limits(ip=(1, 3600)):
        make_device("+4798765001").generate_challenge(factory.post("/", REMOTE_ADDR="2001:db8:1:2::1"))
        with pytest.raises(SendLimitExceeded):
            make_device("+4798765002").generate_challenge(factory.post("/", REMOTE_ADDR="2001:db8:1:2:ffff::9"))
        make_device("+4798765003").generate_challenge(factory.post("/", REMOTE_ADDR="2001:db8:1:3::1"))
    assert len(sms_outbox) == 2


def test_global_budget(sms_outbox, hits):
    with sending_limits(**{"global": (2, 3600)}):
        make_device("+4798765001").generate_challenge()
        make_device("+4798765002").generate_challenge()
        assert_refused_without_trace(make_device("+4798765003"), sms_outbox, limit="global")
    assert hits[0]["key"] == "global:NO"


def test_a_refused_send_does_not_use_up_the_other_limits(sms_outbox):
    with sending_limits(number=(1, 3600), **{"global": (2, 3600)}):
        first = make_device("+4798765001")
        first.generate_challenge()
        for _ in range(5):
            with pytest.raises(SendLimitExceeded):
                first.generate_challenge()
        make_device("+4798765002").generate_challenge()  # the refused sends did not count globally
        with pytest.raises(SendLimitExceeded) as refused:
            make_device("+4798765003").generate_challenge()
    assert refused.value.limit == "global"
    assert len(sms_outbox) == 2


def test_a_send_the_requesters_budget_refuses_gives_back_its_shared_counts(sms_outbox, hits):
    """The requester's and the shared budgets are raised together; a send its
    user budget refuses is judged by nothing else and holds no shared count."""
    with sending_limits(user=(1, 3600), number=(2, 3600)):
        first = make_device(confirmed=False)
        first.generate_challenge()
        for _ in range(3):
            with pytest.raises(SendLimitExceeded) as refused:
                first.generate_challenge()
            assert refused.value.limit == "user"
        make_device(confirmed=False).generate_challenge()  # the number's second send: the refused ones gave theirs back
        with pytest.raises(SendLimitExceeded) as refused:
            make_device(confirmed=False).generate_challenge()
    assert refused.value.limit == "number"
    assert [hit["limit"] for hit in hits] == ["user"] * 3 + ["number"]
    assert len(sms_outbox) == 2


def test_a_lost_cooldown_race_does_not_count(sms_outbox, device):
    with sending_limits(number=(2, 3600)), override_settings(OTP_SMS_COOLDOWN_DURATION=60):
        with freeze_time(timezone.now()) as clock:
            stale = SMSDevice.objects.get(pk=device.pk)
            assert device.send_code() is not None
            assert stale.send_code() is None  # the other request took the slot: nothing sent
            clock.tick(timedelta(seconds=61))
            assert device.send_code() is not None  # would be the third count without the refund
    assert len(sms_outbox) == 2


def test_failed_deliveries_still_count():
    """A vendor that may have taken the message may bill it, delivered or not."""
    device = make_device()
    down = {"down": {"BACKEND": "tests.fakes.FailingBackend"}}
    with sending_limits(number=(2, 3600)), override_settings(SMS_GATEWAYS=down):
        for _ in range(2):
            with pytest.raises(DeliveryFailed):
                device.generate_challenge()
        with pytest.raises(SendLimitExceeded):
            device.generate_challenge()


def test_several_limits_hit_at_once_each_signal_and_wait_for_the_longest(sms_outbox, hits):
    device = make_device(confirmed=False)
    with sending_limits(number=(1, 60), prefix=(1, 3600)), freeze_time("2026-03-02 10:00:00") as clock:
        device.generate_challenge()
        clock.tick(timedelta(seconds=1))
        with pytest.raises(SendLimitExceeded) as refused:
            device.generate_challenge()
    assert refused.value.limit == "number" and refused.value.retry_after == 3599
    assert sorted((hit["limit"], hit["retry_after"]) for hit in hits) == [("number", 59), ("prefix", 3599)]
    assert str(refused.value) == "Too many text messages were requested. Please try again in 60 minutes."


def test_cache_keys_hold_no_number_or_address(sms_outbox):
    request = RequestFactory().post("/", REMOTE_ADDR="203.0.113.77")
    with sending_limits(**{name: (5, 3600) for name in LIMIT_NAMES}) as cache:
        make_device(confirmed=False).generate_challenge(request)
        keys = list(cache._cache)
    assert len(keys) == 5
    assert not [key for key in keys if "98765" in key or "203.0.113" in key]


def test_a_new_secret_key_gives_new_counter_keys(sms_outbox):
    """Subject digests are remembered per process, but keyed with SECRET_KEY:
    a new key counts in new counters at once."""
    with sending_limits(number=(1, 3600)) as cache:
        device = make_device()
        device.generate_challenge()
        with pytest.raises(SendLimitExceeded):
            device.generate_challenge()
        before = set(cache._cache)
        with override_settings(SECRET_KEY="another-key"):
            device.generate_challenge()  # another key: another counter
        assert set(cache._cache) - before
        with pytest.raises(SendLimitExceeded):
            device.generate_challenge()


def test_the_message_is_translated(sms_outbox):
    device = make_device()
    with sending_limits(number=(1, 3600)), translation.override("nb"), freeze_time("2026-03-02 10:00:00") as clock:
        device.generate_challenge()
        clock.tick(timedelta(seconds=1))
        with pytest.raises(SendLimitExceeded) as refused:
            device.generate_challenge()
        assert str(refused.value) == "Det er bedt om for mange tekstmeldinger. Prøv igjen om 60 minutter."
    assert str(refused.value) == try_again_in(3600)
    assert str(SendLimitExceeded("number")) == GENERIC  # no retry_after known


# -- allowlists ----------------------------------------------------------------


def test_country_allowlist(sms_outbox, hits):
    # The counters' cache is down: the allowlist refuses first, at no cache cost.
    with sending_limits(limits_cache(f"{__name__}.UnreachableCache"), number=(5, 3600)), override_settings(
        OTP_SMS_ALLOWED_COUNTRIES=["se", "DK"]
    ):
        refused = assert_refused_without_trace(make_device(), sms_outbox, limit="country")
    assert str(refused) == "Text messages cannot be sent to this phone number's country."
    assert hits == [{"limit": "country", "number": "+47******32", "key": None, "retry_after": None}]
    with sending_limits(), override_settings(OTP_SMS_ALLOWED_COUNTRIES=["SE", "NO"]):
        make_device("+4798765001").generate_challenge()
    assert len(sms_outbox) == 1


def test_number_type_allowlist(sms_outbox):
    us = make_device("+12015550123")  # FIXED_LINE_OR_MOBILE: North American numbers do not tell
    with sending_limits(), override_settings(OTP_SMS_ALLOWED_NUMBER_TYPES=["MOBILE"]):
        refused = assert_refused_without_trace(us, sms_outbox, limit="number_type")
        make_device().generate_challenge()
    assert str(refused) == "This phone number cannot receive text messages. Please check it."
    with sending_limits():  # the default allows both
        us.generate_challenge()
    assert len(sms_outbox) == 2


def test_a_landline_stored_without_full_clean_is_refused(sms_outbox):
    with sending_limits():
        assert_refused_without_trace(make_device("+4722123456"), sms_outbox, limit="number_type")


# -- an unreachable cache ---------------------------------------------------------


def test_unreachable_cache_counts_in_this_process_and_logs_one_error(sms_outbox, hits, caplog):
    """The default: a cache outage is no login outage, and the limits still hold per process."""
    device = make_device()
    with sending_limits(limits_cache(f"{__name__}.UnreachableCache"), number=(2, 3600)):
        with caplog.at_level(logging.ERROR, logger="django_sms_gateway"):
            device.generate_challenge()
            device.generate_challenge()
            assert_refused_without_trace(device, sms_outbox, limit="number")  # counted in this process
    assert len(sms_outbox) == 2
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]  # one line, not one per send
    line = record.getMessage()
    assert "limits cache 'sms-limits' is unreachable (ConnectionError); counting in this process only" in line
    assert "98765432" not in line and "6390" not in line


def test_fail_closed_refuses_the_send_and_logs_an_error(sms_outbox, hits, caplog):
    device = make_device()
    with sending_limits(limits_cache(f"{__name__}.UnreachableCache"), number=(5, 3600)), override_settings(
        OTP_SMS_LIMITS_FAIL_CLOSED=True
    ):
        with caplog.at_level(logging.ERROR, logger="django_sms_gateway"):
            refused = assert_refused_without_trace(device, sms_outbox, limit="unavailable")
    assert str(refused) == "We could not send the text message. Please try again in a few minutes."
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    line = record.getMessage()
    assert "limits cache 'sms-limits' is unreachable (ConnectionError)" in line and "fail closed" in line
    assert "+47******32" in line and "98765432" not in line and "6390" not in line
    assert hits[0]["limit"] == "unavailable"


class CountingUnreachableCache(UnreachableCache):
    calls = 0

    def _fail(self, *args, **kwargs):
        type(self).calls += 1
        super()._fail()

    get = set = add = incr = decr = delete = get_many = set_many = _fail


def test_after_a_failure_the_shared_cache_is_left_alone_for_a_while(sms_outbox):
    """A hung cache costs one timeout per process every FALLBACK_SECONDS, not one per login."""
    CountingUnreachableCache.calls = 0
    with sending_limits(limits_cache(f"{__name__}.CountingUnreachableCache"), number=(50, 3600)), override_settings(
        OTP_SMS_BREAKER_CACHE="default"
    ), freeze_time(
        "2026-03-02 10:00:00"
    ) as clock:
        for _ in range(5):
            make_device().generate_challenge()
        assert CountingUnreachableCache.calls == 1
        clock.tick(timedelta(seconds=counters.FALLBACK_SECONDS + 1))
        make_device().generate_challenge()
        assert CountingUnreachableCache.calls == 2
    assert len(sms_outbox) == 6


def test_no_counter_on_means_no_cache_call(sms_outbox):
    CountingUnreachableCache.calls = 0
    with sending_limits(limits_cache(f"{__name__}.CountingUnreachableCache")):
        make_device().generate_challenge()
        with override_settings(OTP_SMS_LIMITS=None):
            make_device("+4798765001").generate_challenge()
    assert len(sms_outbox) == 2
    assert CountingUnreachableCache.calls == 0


# -- settings ----------------------------------------------------------------------


def test_a_partial_setting_is_merged_over_the_defaults():
    with override_settings(OTP_SMS_LIMITS={"number": (2, 60), "ip": None}):
        enabled, digits = conf_settings.limits.limits, conf_settings.limits.prefix_digits
    assert [(limit.name, limit.count, limit.seconds) for limit in enabled] == [
        ("number", 2, 60), ("prefix", 20, 3600), ("user", 10, 3600), ("global", 100_000, 3600)
    ]
    assert digits == 3
    with override_settings(OTP_SMS_LIMITS={}):
        assert len(conf_settings.limits.limits) == 5
    with override_settings(OTP_SMS_LIMITS=None):
        assert conf_settings.limits.limits == ()


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("OTP_SMS_LIMITS", {"numbr": (5, 60)}, "'numbr'"),
        ("OTP_SMS_LIMITS", {"number": 5}, "OTP_SMS_LIMITS['number']"),
        ("OTP_SMS_LIMITS", {"ip": (5, 0)}, "OTP_SMS_LIMITS['ip']"),
        ("OTP_SMS_LIMITS", {"user": (5, 60, 1)}, "OTP_SMS_LIMITS['user']"),
        ("OTP_SMS_LIMITS", {"global": ("5", 60)}, "OTP_SMS_LIMITS['global']"),
        ("OTP_SMS_LIMITS", {"prefix": (True, 60)}, "OTP_SMS_LIMITS['prefix']"),
        ("OTP_SMS_LIMITS", [("number", (5, 60))], "OTP_SMS_LIMITS must be a dict"),
        ("OTP_SMS_LIMIT_PREFIX_DIGITS", 0, "OTP_SMS_LIMIT_PREFIX_DIGITS"),
        ("OTP_SMS_LIMIT_PREFIX_DIGITS", "3", "OTP_SMS_LIMIT_PREFIX_DIGITS"),
        ("OTP_SMS_CLIENT_IP_HEADER", "X-Forwarded-For", "'HTTP_X_FORWARDED_FOR'"),
        ("OTP_SMS_CLIENT_IP_HEADER", "http_x_real_ip", "'HTTP_X_REAL_IP'"),
        ("OTP_SMS_TRUSTED_PROXIES", 0, "OTP_SMS_TRUSTED_PROXIES"),
        ("OTP_SMS_COUNTRY_LIMITS", {"XX": (5, 60)}, "'XX'"),
        ("OTP_SMS_COUNTRY_LIMITS", {"NO": 5}, "OTP_SMS_COUNTRY_LIMITS['NO']"),
        ("OTP_SMS_COUNTRY_LIMITS", [("NO", (5, 60))], "OTP_SMS_COUNTRY_LIMITS must be a dict"),
        ("OTP_SMS_LIMITS_FAIL_CLOSED", "yes", "OTP_SMS_LIMITS_FAIL_CLOSED"),
    ],
)
def test_limit_misconfiguration_is_e012_and_improperly_configured(setting, value, named):
    with override_settings(**{setting: value}):
        messages = checks.check_limits()
        with pytest.raises(ImproperlyConfigured) as error:
            conf_settings.limits  # noqa: B018  (read: raises)
    [message] = [m for m in messages if m.id == "sms_gateway.E012"]
    assert named in message.msg and named in str(error.value)
    assert message.hint


def test_a_bad_setting_stops_the_send_with_improperly_configured(sms_outbox):
    with override_settings(OTP_SMS_LIMITS={"numbr": (5, 60)}), pytest.raises(SMSUnavailable) as info:
        make_device().generate_challenge()
    assert isinstance(info.value.__cause__, ImproperlyConfigured) and "numbr" in str(info.value.__cause__)
    assert sms_outbox == []


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("OTP_SMS_ALLOWED_COUNTRIES", ["NO", "XX"], "'XX'"),
        ("OTP_SMS_ALLOWED_COUNTRIES", ["Norway"], "'Norway'"),
        ("OTP_SMS_ALLOWED_COUNTRIES", "NO", "list of ISO 3166"),
        ("OTP_SMS_ALLOWED_NUMBER_TYPES", ["MOBILE", "CELL"], "'CELL', which is not a phonenumbers type"),
        ("OTP_SMS_ALLOWED_NUMBER_TYPES", ["PREMIUM_RATE"], "'PREMIUM_RATE', a kind of number that cannot receive"),
        ("OTP_SMS_ALLOWED_NUMBER_TYPES", [], "non-empty list"),
        # Not a list at all: an error naming the setting, not a TypeError out of manage.py check.
        ("OTP_SMS_ALLOWED_COUNTRIES", 47, "list of ISO 3166"),
        ("OTP_SMS_ALLOWED_COUNTRIES", True, "list of ISO 3166"),
        ("OTP_SMS_ALLOWED_NUMBER_TYPES", 5, "non-empty list"),
        ("OTP_SMS_ALLOWED_NON_GEOGRAPHIC", "+8816", "list of E.164 prefixes"),
        ("OTP_SMS_ALLOWED_NON_GEOGRAPHIC", ["+4798"], "'+4798', which is not the E.164 prefix"),
        ("OTP_SMS_ALLOWED_NON_GEOGRAPHIC", ["8816"], "'8816'"),
    ],
)
def test_allowlist_misconfiguration_is_e013(setting, value, named):
    with override_settings(**{setting: value}):
        [message] = checks.check_limits()
        with pytest.raises(ImproperlyConfigured) as error:
            conf_settings.limits  # noqa: B018  (read: raises)
    assert message.id == "sms_gateway.E013" and named in message.msg and named in str(error.value)


def test_default_and_test_settings_pass_the_checks():
    assert checks.check_limits() == []
    with override_settings(OTP_SMS_LIMITS={}):
        assert checks.check_limits() == []
    with override_settings(OTP_SMS_LIMITS={"number": (3, 600)}, OTP_SMS_ALLOWED_COUNTRIES=["no", "SE"],
                           OTP_SMS_ALLOWED_NUMBER_TYPES=["mobile"], OTP_SMS_CLIENT_IP_HEADER="HTTP_X_FORWARDED_FOR",
                           OTP_SMS_TRUSTED_PROXIES=2):
        assert checks.check_limits() == []


def test_ip_limit_without_the_middleware_is_w004():
    from django.conf import settings

    middleware = [m for m in settings.MIDDLEWARE if "SMSRequestMiddleware" not in m]
    with override_settings(MIDDLEWARE=middleware, OTP_SMS_LIMITS={}):
        [message] = checks.check_limits()
        assert message.id == "sms_gateway.W004" and "SMSRequestMiddleware" in message.hint
        with override_settings(OTP_SMS_LIMITS={"ip": None}):
            assert checks.check_limits() == []


# -- other senders ------------------------------------------------------------------


def test_sendtestsms_is_not_limited(sms_outbox):
    """An operator's tool: it must work while users are being refused."""
    with sending_limits(number=(1, 3600), **{"global": (1, 3600)}):
        for _ in range(3):
            call_command("sendtestsms", NUMBER, stdout=None)
    assert len(sms_outbox) == 3


def test_two_factor_gateway_is_limited(sms_outbox, user):
    pytest.importorskip("two_factor", reason="install the test extra (django-two-factor-auth)")
    from two_factor.plugins.phonenumber.models import PhoneDevice

    from django_sms_gateway.integrations.two_factor import GATEWAY_PATH

    phone = PhoneDevice.objects.create(user=user, name="default", number=NUMBER, method="sms")
    request = RequestFactory().post("/", REMOTE_ADDR="203.0.113.7")
    with sending_limits(user=(1, 3600), ip=(5, 3600)), override_settings(TWO_FACTOR_SMS_GATEWAY=GATEWAY_PATH):
        SMSRequestMiddleware(lambda request: phone.generate_challenge())(request)
        with pytest.raises(SendLimitExceeded) as refused:
            SMSRequestMiddleware(lambda request: phone.generate_challenge())(request)
    assert refused.value.limit == "user"
    assert len(sms_outbox) == 1


@pytest.mark.parametrize("fail_closed", [False, True])
def test_redis_down(sms_outbox, caplog, fail_closed):
    """Django's Redis cache on a port where nothing listens."""
    pytest.importorskip("redis", reason="install the test extra (redis)")
    nothing_listens = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    with sending_limits(nothing_listens, number=(5, 3600)), override_settings(
        OTP_SMS_LIMITS_FAIL_CLOSED=fail_closed
    ), caplog.at_level(logging.ERROR, logger="django_sms_gateway"):
        if fail_closed:
            assert_refused_without_trace(make_device(), sms_outbox, limit="unavailable")
        else:
            make_device().generate_challenge()
    assert len(sms_outbox) == (0 if fail_closed else 1)
    assert "limits cache 'sms-limits' is unreachable (ConnectionError)" in caplog.text


def test_the_example_site_shows_the_limit_and_counts_per_client_ip(client, sms_outbox):
    """Through the demo's SMS step: the limit's user-safe text is shown as an alert."""
    from tests.example_site import example_settings
    from tests.test_example_project import PASSWORD, notice_of, send_code

    user = get_user_model().objects.create_user("alice", password=PASSWORD)
    phone = SMSDevice.objects.create(user=user, name="Mobile", number=NUMBER, confirmed=True)
    with override_settings(**example_settings(OTP_SMS_COOLDOWN_DURATION=0)), sending_limits(ip=(1, 3600)):
        client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
        assert notice_of(send_code(client, phone)) == "We sent a code by text message to +47******32."
        refused = send_code(client, phone)
        assert notice_of(refused).startswith("Too many text messages were requested. Please try again in ")
        assert 'role="alert"' in refused.content.decode()
    assert len(sms_outbox) == 1


def test_the_example_project_installs_the_middleware():
    from tests.example_site import example_settings

    assert "django_sms_gateway.middleware.SMSRequestMiddleware" in example_settings()["MIDDLEWARE"]


def test_the_limit_checks_are_registered():
    from django.core.checks import run_checks

    with override_settings(OTP_SMS_LIMITS={"numbr": (1, 60)}, OTP_SMS_ALLOWED_COUNTRIES=["XX"]):
        found = {message.id for message in run_checks()}
    assert {"sms_gateway.E012", "sms_gateway.E013"} <= found


def test_django_otp_token_form_shows_the_limit_text(sms_outbox, user):
    """django-otp's own form passes no request; the middleware supplies it, and the
    refusal reaches the user as the form's error."""
    from django_otp.forms import OTPTokenForm

    device = SMSDevice.objects.create(user=user, name="phone", number=NUMBER, confirmed=True)
    request = RequestFactory().post("/", REMOTE_ADDR="203.0.113.7")

    def challenge(request):
        form = OTPTokenForm(user, request, data={"otp_device": device.persistent_id, "otp_challenge": "1"})
        form.is_valid()
        return form.errors.get("__all__", [])

    with sending_limits(ip=(1, 3600)):
        first = SMSRequestMiddleware(challenge)(request)
        refused = SMSRequestMiddleware(challenge)(request)
    assert len(sms_outbox) == 1
    assert "We sent a code" in " ".join(first)
    assert any("Too many text messages were requested. Please try again in " in error for error in refused)


@pytest.mark.parametrize("backend", ["django.core.cache.backends.filebased.FileBasedCache",
                                     "django.core.cache.backends.db.DatabaseCache"])
def test_a_counter_lives_to_its_windows_end_on_caches_without_native_incr(sms_outbox, tmp_path, backend):
    """Django's database and file caches implement incr as get + set, and that set
    would give the counter the cache's default TIMEOUT: with 60 s, a number limited
    to 2 an hour got a fresh count after a minute without a send."""
    location = str(tmp_path) if backend.endswith("FileBasedCache") else "sms_limits_cache_table"
    device = make_device()
    with sending_limits({"BACKEND": backend, "LOCATION": location, "TIMEOUT": 60}, number=(2, 3600)):
        if backend.endswith("DatabaseCache"):
            call_command("createcachetable", location)
        with freeze_time("2026-03-02 10:00:00") as clock:
            device.generate_challenge()
            clock.tick(timedelta(seconds=10))
            device.generate_challenge()
            clock.tick(timedelta(seconds=100))  # past the cache's TIMEOUT, inside the hour
            with pytest.raises(SendLimitExceeded) as refused:
                device.generate_challenge()
            assert refused.value.limit == "number"
            # A refusal gives its count back without shortening the window either.
            clock.tick(timedelta(seconds=100))
            with pytest.raises(SendLimitExceeded):
                device.generate_challenge()
    assert len(sms_outbox) == 2


def test_two_factor_gateway_with_a_broken_template_counts_nothing(sms_outbox, user):
    """The message is rendered before the send is counted, as for an SMSDevice."""
    pytest.importorskip("two_factor", reason="install the test extra (django-two-factor-auth)")
    from two_factor.plugins.phonenumber.models import PhoneDevice

    from django_sms_gateway.integrations.two_factor import GATEWAY_PATH
    from django_sms_gateway.text import TemplateError

    phone = PhoneDevice.objects.create(user=user, name="default", number=NUMBER, method="sms")
    with sending_limits(number=(1, 3600)), override_settings(TWO_FACTOR_SMS_GATEWAY=GATEWAY_PATH):
        with override_settings(OTP_SMS_MESSAGE="Your code is ready"), pytest.raises(SMSUnavailable) as info:
            phone.generate_challenge()
        assert isinstance(info.value.__cause__, TemplateError)
        phone.generate_challenge()
    assert len(sms_outbox) == 1


def test_a_database_error_while_claiming_gives_the_counts_back(sms_outbox, device, monkeypatch):
    from django.db import OperationalError

    from django_sms_gateway import models

    def database_down(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    with sending_limits(number=(1, 3600)):
        monkeypatch.setattr(models.SMSDevice, "_claim", database_down)
        with pytest.raises(OperationalError):
            device.send_code()
        monkeypatch.undo()
        assert device.send_code() is not None  # the failed attempt did not use up the only send
    assert len(sms_outbox) == 1


class FlakyCache(LocMemCache):
    """Raises on the second counter's first add, like a connection dropped mid-send."""

    def add(self, key, *args, **kwargs):
        if ":global:" in key and not getattr(self, "_failed_once", False):
            self._failed_once = True
            raise ConnectionError("connection reset")
        return super().add(key, *args, **kwargs)


def test_counters_raised_before_the_cache_failed_are_lowered(sms_outbox, device):
    flaky = limits_cache(f"{__name__}.FlakyCache")
    with sending_limits(flaky, number=(1, 3600), **{"global": (10, 3600)}), override_settings(
        OTP_SMS_LIMITS_FAIL_CLOSED=True
    ):
        with pytest.raises(SendLimitExceeded) as refused:
            device.send_code()
        assert refused.value.limit == "unavailable"
        counters.forget_failures()  # as FALLBACK_SECONDS later
        assert device.send_code() is not None  # the number counter was given back
    assert len(sms_outbox) == 1
