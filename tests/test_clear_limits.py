"""Support clears sending limits: ``manage.py clearsmslimits`` and the admin's "Clear sending limits"
let a user refused by a limit be sent a code again at once, and leave everyone else's counters alone.
Over the local-memory cache and over Redis (REDIS_URL)."""

import os
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from django.urls import reverse
from freezegun import freeze_time

from django_sms_gateway import limits
from django_sms_gateway.exceptions import SendLimitExceeded
from django_sms_gateway.models import SMSDevice
from tests.limiting import NUMBER, limits_cache, make_device, sending_limits

pytestmark = pytest.mark.django_db

REDIS = "django.core.cache.backends.redis.RedisCache"
OTHER_RANGE = "+4741234567"


@pytest.fixture(params=[
    "locmem",
    pytest.param("redis", marks=[
        pytest.mark.redis,
        pytest.mark.skipif(not os.environ.get("REDIS_URL"),
                           reason="the Redis cases need a server: set REDIS_URL=redis://127.0.0.1:6379/0"),
    ]),
])
def cache(request):
    """A ``CACHES`` entry no other test counts in: local memory, or the Redis at REDIS_URL."""
    if request.param == "locmem":
        return limits_cache()
    return limits_cache(REDIS, LOCATION=os.environ["REDIS_URL"], KEY_PREFIX=f"clear-{uuid.uuid4().hex}",
                        OPTIONS={"socket_timeout": 2, "socket_connect_timeout": 2})


def user(name):
    return get_user_model().objects.create_user(name)


def refused(device, request=None):
    """Whether the sending limits refuse ``device`` (as stored) a code now."""
    device.refresh_from_db()
    try:
        device.generate_challenge(request)
    except SendLimitExceeded:
        return True
    return False


def send(device, times, request=None):
    for _ in range(times):
        assert not refused(device, request)
    assert refused(device, request)


def clear(*args):
    """The command's output, its lines' runs of spaces made one."""
    out = StringIO()
    call_command("clearsmslimits", *args, stdout=out, no_color=True)
    return "\n".join(" ".join(line.split()) for line in out.getvalue().splitlines())


def test_a_user_refused_by_the_user_limit_can_send_again(cache):
    alice, bob = user("alice"), user("bob")
    with sending_limits(cache, user=(2, 3600)):
        phone, bobs = make_device(user=alice), make_device(OTHER_RANGE, user=bob)
        send(bobs, 2)
        with freeze_time() as clock:  # sends in two buckets of the window: every bucket is cleared
            assert not refused(phone)
            clock.tick(timedelta(minutes=30))
            assert not refused(phone)
            clock.tick(timedelta(seconds=1))
            assert refused(phone)
            output = clear("--user", "alice")
            clock.tick(timedelta(seconds=1))
            assert not refused(phone)
        assert refused(bobs)  # bob's counter is untouched
        clear("--user", str(bob.pk))  # by pk
        assert not refused(bobs)
    assert f"user {alice.pk} is 'alice'" in output
    assert f"user 2/3600s user {alice.pk}: 2 sends cleared" in output
    assert "Cleared 2 sends from 1 budget." in output


def test_user_clears_their_own_budget_of_their_number_not_other_owners(cache):
    alice, carol = user("alice"), user("carol")
    with sending_limits(cache, number=(2, 3600)):
        phone, carols = make_device(user=alice), make_device(user=carol)  # both confirmed owners of NUMBER
        send(phone, 2)
        send(carols, 2)
        output = clear("--user", "alice")
        assert not refused(phone) and refused(carols)
    assert "+47******32, owner user" in output and NUMBER not in output


def test_user_leaves_a_numbers_shared_budget_to_number(cache):
    dave, eve = user("dave"), user("eve")
    with sending_limits(cache, number=(2, 3600), prefix=(10, 3600)):
        enrolling = make_device(confirmed=False, user=dave)
        elsewhere = make_device(OTHER_RANGE, confirmed=False, user=eve)
        send(enrolling, 2)
        send(elsewhere, 2)
        output = clear("--user", "dave")
        assert refused(enrolling)
        assert "is not confirmed" in output and "add --number" in output
        output = clear("--number", "+47 987 65 432")  # read as the device reads it
        assert not refused(enrolling)
        assert refused(elsewhere)  # another number's budget is untouched
    assert "+47******32, shared by all but its owners: 2 sends cleared" in output
    assert "prefix 10/3600s the range of +47******32: 2 sends cleared" in output


def test_number_clears_every_owners_budget_of_it(cache):
    alice, carol = user("alice"), user("carol")
    with sending_limits(cache, number=(1, 3600)):
        phone, carols = make_device(user=alice), make_device(user=carol)
        elsewhere = make_device(OTHER_RANGE, user=user("frank"))
        for device in (phone, carols, elsewhere):
            send(device, 1)
        clear("--number", NUMBER)
        assert not refused(phone) and not refused(carols)
        assert refused(elsewhere)


def test_number_clears_the_prefix_budget_it_shares_with_its_range(cache):
    with sending_limits(cache, prefix=(2, 3600)):
        first, second = make_device("+4798765001", confirmed=False), make_device("+4798765002", confirmed=False)
        assert not refused(first) and not refused(second)
        neighbour = make_device("+4798765003", confirmed=False)
        other_range = make_device("+4741234001", confirmed=False)
        send(other_range, 2)
        assert refused(neighbour)
        clear("--number", "+4798765003")
        assert not refused(neighbour)
        assert refused(other_range)


def test_address_clears_the_ip_budget_an_ipv6_address_by_its_64(cache):
    factory = RequestFactory()
    here, v6 = factory.get("/", REMOTE_ADDR="203.0.113.7"), factory.get("/", REMOTE_ADDR="2001:db8:0:1::1")
    there = factory.get("/", REMOTE_ADDR="198.51.100.1")
    with sending_limits(cache, ip=(1, 3600)):
        devices = [make_device(f"+47987650{index:02d}") for index in range(6)]
        send(devices[0], 1, here)
        send(devices[1], 1, v6)
        send(devices[2], 1, there)
        output = clear("--address", "203.0.113.7", "--address", "2001:db8:0:1::ff")  # another address, same /64
        assert not refused(devices[3], here) and not refused(devices[4], v6)
        assert refused(devices[5], there)
    assert "ip 1/3600s 2001:db8:0:1::/64: 1 send cleared" in output
    assert "ip 1/3600s 203.0.113.7: 1 send cleared" in output


def test_the_global_budget_of_a_country_is_never_cleared(cache):
    alice = user("alice")
    with sending_limits(cache, **{"global": (1, 3600)}):
        phone = make_device(user=alice)
        send(phone, 1)
        output = clear("--user", "alice", "--number", NUMBER, "--address", "203.0.113.7")
        assert refused(phone)
    assert "No limit that counts these is on" in output


def test_the_cooldown_of_the_matching_devices_is_reset_and_lock_out_only_with_unlock(cache, settings):
    settings.OTP_SMS_COOLDOWN_DURATION = 60
    alice, bob = user("alice"), user("bob")
    with sending_limits(cache, user=(5, 3600)):
        phone, bobs = make_device(user=alice), make_device(OTHER_RANGE, user=bob)
        for device in (phone, bobs):
            device.generate_challenge()
        SMSDevice.objects.update(throttling_failure_count=3)
        output = clear("--user", "alice")
        phone.refresh_from_db()
        assert phone.last_generated_timestamp is None and phone.throttling_failure_count == 3
        assert "Reset the cooldown of 1 device." in output
        output = clear("--user", "alice", "--unlock")
        phone.refresh_from_db()
        bobs.refresh_from_db()
        assert phone.throttling_failure_count == 0 and "lock-out of 1 device." in output
        assert bobs.last_generated_timestamp is not None and bobs.throttling_failure_count == 3


@pytest.mark.parametrize(("args", "error"), [
    ((), "Name what to clear: --user, --number or --address."),
    (("--user", "nobody"), "No user with the username or pk 'nobody'."),
    (("--number", "+47 800 12 345"), "'+47 800 12 345' is not a number codes are sent to: Toll-free"),
    (("--address", "not-an-address"), "'not-an-address' is not a client address"),
    (("--address", "2001:db8::/48"), "is not a client address (nor an IPv6 /64)"),
])
def test_what_cannot_be_cleared_is_a_usage_error(args, error):
    with sending_limits(user=(1, 3600)), pytest.raises(CommandError) as failed:
        clear(*args)
    assert error in str(failed.value) and failed.value.returncode == 2


def test_an_unreachable_limits_cache_clears_nothing_and_says_so(settings):
    settings.OTP_SMS_COOLDOWN_DURATION = 60
    unreachable = {"BACKEND": REDIS, "LOCATION": "redis://127.0.0.1:1/0",
                   "OPTIONS": {"socket_timeout": 1, "socket_connect_timeout": 1}}
    with sending_limits(user=(1, 3600)):
        phone = make_device(user=user("alice"))
        phone.generate_challenge()
    with sending_limits(unreachable, user=(1, 3600)), pytest.raises(CommandError) as failed:
        clear("--user", "alice")
    assert "limits cache 'sms-limits' is unreachable (ConnectionError); nothing was cleared." in str(failed.value)
    phone.refresh_from_db()
    assert phone.last_generated_timestamp is not None  # no device was changed either


def test_the_api_returns_every_counter_it_cleared(cache):
    with sending_limits(cache, user=(3, 3600), number=(3, 3600), prefix=(3, 3600), ip=(3, 3600)):
        phone = make_device()
        phone.generate_challenge(RequestFactory().get("/", REMOTE_ADDR="203.0.113.7"))
        cleared = limits.clear(user_ids=[phone.user_id], numbers=[NUMBER], owned=[(NUMBER, phone.user_id)],
                               addresses=["203.0.113.7"])
        again = limits.clear(user_ids=[phone.user_id], numbers=[NUMBER], owned=[(NUMBER, phone.user_id)],
                             addresses=["203.0.113.7"])
    sends = {(entry.limit.name, entry.subject): entry.sends for entry in cleared}
    assert sends == {
        ("user", f"user {phone.user_id}"): 1,
        ("number", "+47******32, shared by all but its owners"): 0,
        ("prefix", "the range of +47******32"): 0,
        ("number", f"+47******32, owner user {phone.user_id}"): 1,  # a confirmed device counts in its own
        ("ip", "203.0.113.7"): 1,
    }
    assert [entry.sends for entry in again] == [0] * 5


def test_the_api_leaves_limits_that_are_off_alone(cache):
    with sending_limits(cache):
        assert limits.clear(user_ids=[1], numbers=[NUMBER], addresses=["203.0.113.7"]) == []


@pytest.fixture
def admin_urls(settings):
    settings.ROOT_URLCONF = "tests.admin_urls"


def test_the_admin_action_clears_the_selected_devices_users_and_numbers(cache, admin_client, admin_urls, settings):
    settings.OTP_SMS_COOLDOWN_DURATION = 60
    with sending_limits(cache, user=(1, 3600), number=(1, 3600)):
        enrolling = make_device(confirmed=False, user=user("dave"))
        locked_out = make_device(OTHER_RANGE, user=user("bob"))
        for device in (enrolling, locked_out):
            device.generate_challenge()
            SMSDevice.objects.filter(pk=device.pk).update(last_generated_timestamp=None)
            assert refused(device)  # by the user limit
        SMSDevice.objects.update(throttling_failure_count=2)
        url = reverse("admin:django_sms_gateway_smsdevice_changelist")
        response = admin_client.post(url, {"action": "clear_sending_limits", "_selected_action": [enrolling.pk]},
                                     follow=True)
        assert "The sending limits of the user and number of 1 device were cleared." in response.content.decode()
        assert refused(locked_out)  # not selected: untouched
        enrolling.refresh_from_db()
        assert enrolling.throttling_failure_count == 2  # a lock-out has its own action
        assert not refused(enrolling)


def test_the_admin_action_says_when_the_cache_cannot_be_reached(admin_client, admin_urls):
    unreachable = {"BACKEND": REDIS, "LOCATION": "redis://127.0.0.1:1/0",
                   "OPTIONS": {"socket_timeout": 1, "socket_connect_timeout": 1}}
    phone = make_device(user=user("alice"))
    with sending_limits(unreachable, user=(1, 3600)):
        url = reverse("admin:django_sms_gateway_smsdevice_changelist")
        response = admin_client.post(url, {"action": "clear_sending_limits", "_selected_action": [phone.pk]},
                                     follow=True)
    assert "could not be reached, so nothing was cleared" in response.content.decode()
