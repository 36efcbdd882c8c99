"""The client IP for the per-IP limit, directly and behind proxies, and the request middleware."""

import asyncio
import logging

import pytest
from django.test import RequestFactory, override_settings

from django_sms_gateway import limits
from django_sms_gateway.limits import client_ip, current_request, limit_key
from django_sms_gateway.middleware import SMSRequestMiddleware
from django_sms_gateway.signals import LogThrottle

XFF = "HTTP_X_FORWARDED_FOR"


def request(remote="10.0.0.1", **meta):
    return RequestFactory().get("/", REMOTE_ADDR=remote, **meta)


@pytest.fixture(autouse=True)
def _fresh_warning_throttle(monkeypatch):
    monkeypatch.setattr(limits, "_fallback_warnings", LogThrottle())
    monkeypatch.setattr(limits, "_proxy_warnings", LogThrottle())


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("203.0.113.7:51234", "203.0.113.7"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1%eth0"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("", None),
        ("unknown", None),
        ("203.0.113", None),
        ("999.1.1.1", None),
        ("[2001:db8::1", None),
        ("[2001:db8::1]x", None),
        ("1.2.3.4; DROP TABLE", None),
        ("1" * 200, None),
        (None, None),
        # No client sends from these: ipware reads them as no address.
        ("0.0.0.0", None),
        ("224.0.0.1", None),
    ],
)
def test_remote_addr_as_it_is_written(written, read):
    assert client_ip(request(written)) == read


def test_remote_addr_by_default_ignores_forwarded_headers():
    assert client_ip(request("203.0.113.7", **{XFF: "198.51.100.1"})) == "203.0.113.7"


def test_no_usable_address():
    assert client_ip(request("garbage")) is None
    assert client_ip(object()) is None


@override_settings(OTP_SMS_CLIENT_IP_HEADER=XFF)
def test_one_trusted_proxy_takes_the_address_it_appended():
    # The client wrote the first two entries itself; only the last one comes from our proxy.
    spoofed = request("10.0.0.1", **{XFF: "1.1.1.1, 2.2.2.2, 203.0.113.7"})
    assert client_ip(spoofed) == "203.0.113.7"
    assert client_ip(request("10.0.0.1", **{XFF: "203.0.113.7"})) == "203.0.113.7"


@override_settings(OTP_SMS_CLIENT_IP_HEADER=XFF, OTP_SMS_TRUSTED_PROXIES=2)
def test_two_trusted_proxies_take_the_second_address_from_the_right():
    assert client_ip(request("10.0.0.1", **{XFF: "1.1.1.1, 203.0.113.7, 10.0.0.2"})) == "203.0.113.7"
    assert client_ip(request("10.0.0.1", **{XFF: "[2001:db8::7]:443,10.0.0.2"})) == "2001:db8::7"


@override_settings(OTP_SMS_CLIENT_IP_HEADER=XFF, OTP_SMS_TRUSTED_PROXIES=2)
def test_an_entry_a_trusted_proxy_wrote_that_is_no_address_keeps_its_place():
    """A proxy that received the request over a Unix socket appends 'unix:'. The
    client is still the second entry from the right; the one left of it is the
    client's own writing (ipware's proxy_count, which counts only the entries
    it can read, would take that one)."""
    assert client_ip(request("10.0.0.1", **{XFF: "6.6.6.6, 203.0.113.7, unix:"})) == "203.0.113.7"
    assert client_ip(request("10.0.0.1", **{XFF: "6.6.6.6, unknown, 10.0.0.2"})) == "10.0.0.1"


@override_settings(OTP_SMS_CLIENT_IP_HEADER="HTTP_FORWARDED", OTP_SMS_TRUSTED_PROXIES=1)
def test_an_rfc_7239_forwarded_header():
    forwarded = 'for=6.6.6.6;proto=http, for="[2001:db8::7]:443";proto=https'
    assert client_ip(request("10.0.0.1", HTTP_FORWARDED=forwarded)) == "2001:db8::7"


@override_settings(OTP_SMS_CLIENT_IP_HEADER=XFF, OTP_SMS_TRUSTED_PROXIES=1)
def test_the_fallback_warning_is_logged_once_a_minute_with_a_count(caplog, monkeypatch):
    from django_sms_gateway import signals
    from django_sms_gateway.signals import WARN_INTERVAL

    clock = [1000.0]
    monkeypatch.setattr(signals.time, "monotonic", lambda: clock[0])
    with caplog.at_level(logging.WARNING, logger="django_sms_gateway"):
        for _ in range(5):
            assert client_ip(request("198.51.100.9")) == "198.51.100.9"
        clock[0] += WARN_INTERVAL
        client_ip(request("198.51.100.9"))
    warnings = [r.getMessage() for r in caplog.records if "using REMOTE_ADDR" in r.getMessage()]
    assert len(warnings) == 2
    assert "(0 more such requests" in warnings[0] and "(4 more such requests" in warnings[1]


@override_settings(OTP_SMS_CLIENT_IP_HEADER=XFF, OTP_SMS_TRUSTED_PROXIES=2)
@pytest.mark.parametrize("header", [None, "", "203.0.113.7", "garbage, 10.0.0.2", " , 10.0.0.2"])
def test_a_header_not_written_by_the_proxies_falls_back_to_remote_addr(header, caplog):
    meta = {} if header is None else {XFF: header}
    with caplog.at_level(logging.WARNING, logger="django_sms_gateway"):
        assert client_ip(request("198.51.100.9", **meta)) == "198.51.100.9"
    assert "using REMOTE_ADDR" in caplog.text


@override_settings(OTP_SMS_CLIENT_IP_HEADER="HTTP_X_REAL_IP")
def test_a_single_address_header():
    assert client_ip(request("10.0.0.1", HTTP_X_REAL_IP="203.0.113.7")) == "203.0.113.7"


def test_limit_key_groups_ipv6_by_64():
    assert limit_key("203.0.113.7") == "203.0.113.7"
    assert limit_key("2001:db8:1:2:3:4:5:6") == limit_key("2001:db8:1:2::ffff") == "2001:db8:1:2::/64"
    assert limit_key("2001:db8:1:3::1") != limit_key("2001:db8:1:2::1")
    assert limit_key("fe80::1%eth0") == limit_key("fe80::2%eth1") == "fe80::/64"


def test_middleware_keeps_the_request_only_while_it_is_handled():
    seen = []
    incoming = request()
    middleware = SMSRequestMiddleware(lambda r: seen.append(current_request()) or "response")
    assert middleware(incoming) == "response"
    assert seen == [incoming] and current_request() is None


def test_middleware_resets_on_errors():
    def explode(r):
        raise RuntimeError("view failed")

    with pytest.raises(RuntimeError):
        SMSRequestMiddleware(explode)(request())
    assert current_request() is None


def test_middleware_async():
    seen = []
    incoming = request()

    async def view(r):
        await asyncio.sleep(0)
        seen.append(current_request())
        return "response"

    middleware = SMSRequestMiddleware(view)
    assert asyncio.iscoroutinefunction(middleware) or middleware.is_async
    assert asyncio.run(middleware(incoming)) == "response"
    assert seen == [incoming] and current_request() is None


def test_concurrent_async_requests_see_their_own_request():
    async def view(r):
        await asyncio.sleep(0.01)
        return current_request() is r

    middleware = SMSRequestMiddleware(view)

    async def both():
        return await asyncio.gather(middleware(request("1.1.1.1")), middleware(request("2.2.2.2")))

    assert asyncio.run(both()) == [True, True]


# -- a proxy nobody told us about ----------------------------------------------------------


PROXY_WARNING = "Requests come through a proxy"


@pytest.mark.parametrize("header", [XFF, "HTTP_FORWARDED", "HTTP_X_REAL_IP"])
def test_forwarded_headers_from_a_private_address_warn_once_a_minute(header, caplog):
    """Behind an unconfigured proxy every user shares the proxy's ip counter."""
    with caplog.at_level(logging.WARNING, logger="django_sms_gateway"):
        for _ in range(3):
            assert client_ip(request("10.0.0.5", **{header: "203.0.113.7"})) == "10.0.0.5"
    warnings = [r.getMessage() for r in caplog.records if PROXY_WARNING in r.getMessage()]
    assert len(warnings) == 1
    assert header in warnings[0] and "OTP_SMS_CLIENT_IP_HEADER" in warnings[0]
    assert "203.0.113.7" not in warnings[0] and "10.0.0.5" not in warnings[0]


def test_no_proxy_warning_for_a_public_client_or_a_configured_header(caplog):
    with caplog.at_level(logging.WARNING, logger="django_sms_gateway"):
        client_ip(request("8.8.4.4", **{XFF: "1.2.3.4"}))  # a public client that forged the header itself
        client_ip(request("10.0.0.5"))  # a private client without a proxy
        with override_settings(OTP_SMS_CLIENT_IP_HEADER=XFF):
            client_ip(request("10.0.0.5", **{XFF: "203.0.113.7"}))
    assert PROXY_WARNING not in caplog.text


@pytest.mark.parametrize(
    ("settings", "warned"),
    [
        ({"SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https")}, True),
        ({"USE_X_FORWARDED_HOST": True}, True),
        ({"USE_X_FORWARDED_HOST": True, "OTP_SMS_CLIENT_IP_HEADER": XFF}, False),
        ({"USE_X_FORWARDED_HOST": True, "OTP_SMS_LIMITS": {"ip": None}}, False),
        ({}, False),
    ],
)
def test_proxy_settings_without_a_client_ip_header_are_w017(settings, warned):
    from django_sms_gateway import checks

    with override_settings(**{"OTP_SMS_LIMITS": {}, **settings}):
        found = [m for m in checks.check_limits() if m.id == "sms_gateway.W017"]
    assert bool(found) == warned
    if warned:
        assert "OTP_SMS_CLIENT_IP_HEADER" in found[0].msg and "OTP_SMS_TRUSTED_PROXIES" in found[0].hint
