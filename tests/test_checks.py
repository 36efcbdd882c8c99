"""Each misconfiguration is its own system check, and its hint says how to fix it."""

import pytest
from django.core.cache import caches
from django.core.checks import run_checks
from django.test import override_settings
from django.utils import translation
from django.utils.functional import lazy
from django.utils.translation import ngettext_lazy

from django_sms_gateway import checks, conf
from tests.fakes import FAIL

LOCMEM = "django_sms_gateway.backends.locmem.LocmemBackend"
CONSOLE = "django_sms_gateway.backends.console.ConsoleBackend"


def ids(messages):
    return [m.id for m in messages]


def only(messages, check_id):
    found = [m for m in messages if m.id == check_id]
    assert len(found) == 1, messages
    return found[0]


def gateway_messages(**gateways):
    with override_settings(SMS_GATEWAYS=gateways, DEBUG=True):
        return checks.check_gateways()


def test_a_correct_configuration_passes():
    assert gateway_messages(a={"BACKEND": LOCMEM, "COUNTRIES": ["NO", "se"], "TIMEOUT": 3}) == []


def test_sms_gateways_not_a_dict():
    with override_settings(SMS_GATEWAYS=["a"], DEBUG=True):
        message = only(checks.check_gateways(), "sms_gateway.E001")
    assert "non-empty dict" in message.msg and "alias -> {'BACKEND'" in message.hint


def test_entry_with_unknown_key_or_bad_timeout():
    messages = gateway_messages(a={"BACKEND": LOCMEM, "OPTION": {}}, b={"BACKEND": LOCMEM, "TIMEOUT": 0})
    assert ids(messages) == ["sms_gateway.E001", "sms_gateway.E001"]
    assert "'OPTION'" in messages[0].msg and "'TIMEOUT'" in messages[1].msg
    assert "'OPTIONS' (dict)" in messages[0].hint and "positive seconds" in messages[1].hint


def test_unimportable_backend():
    message = only(gateway_messages(a={"BACKEND": "no_such_module.Backend"}), "sms_gateway.E004")
    assert "'no_such_module.Backend'" in message.msg and message.obj == "SMS_GATEWAYS['a']"
    assert "dotted path" in message.hint and "installed" in message.hint


def test_backend_that_is_not_a_backend_class():
    message = only(gateway_messages(a={"BACKEND": "django_sms_gateway.text.segment_info"}), "sms_gateway.E004")
    assert "not a django_sms_gateway backend class" in message.msg and "BaseBackend" in message.hint


def test_unknown_option_names_the_option_and_lists_the_allowed_ones():
    message = only(gateway_messages(a={"BACKEND": LOCMEM, "OPTIONS": {"api_kee": "x"}}), "sms_gateway.E005")
    assert "'api_kee'" in message.msg
    assert "SMS_GATEWAYS['a']['OPTIONS']" in message.hint and "optional: sender" in message.hint


def test_missing_required_option():
    with override_settings(SMS_GATEWAYS={"a": {"BACKEND": "tests.fakes.NeedsKeyBackend"}}, DEBUG=True):
        message = only(checks.check_gateways(), "sms_gateway.E005")
    assert "'api_key' is required" in message.msg and "required: api_key" in message.hint


def test_countries_that_are_not_regions():
    message = only(gateway_messages(a={"BACKEND": LOCMEM, "COUNTRIES": ["NO", "Norway"]}), "sms_gateway.E006")
    assert "'Norway'" in message.msg and "two-letter ISO 3166" in message.hint
    message = only(gateway_messages(a={"BACKEND": LOCMEM, "COUNTRIES": "NO"}), "sms_gateway.E006")
    assert "['NO', 'SE']" in message.hint


def test_every_gateway_problem_is_reported_not_just_the_first():
    messages = gateway_messages(
        a={"BACKEND": "nope.Backend"},
        b={"BACKEND": LOCMEM, "OPTIONS": {"colour": "red"}},
        c={"BACKEND": LOCMEM, "COUNTRIES": ["XX"]},
        d={"BACKEND": LOCMEM},
    )
    assert ids(messages) == ["sms_gateway.E004", "sms_gateway.E005", "sms_gateway.E006"]
    assert [m.obj for m in messages] == ["SMS_GATEWAYS['a']", "SMS_GATEWAYS['b']", "SMS_GATEWAYS['c']"]


def test_template_without_token():
    with override_settings(OTP_SMS_MESSAGE="Your code is ready", DEBUG=True):
        message = only(checks.check_gateways(), "sms_gateway.E002")
    assert "{token}" in message.msg and "Include {token}" in message.hint


def test_template_too_long_for_a_gateway():
    with override_settings(
        SMS_GATEWAYS={"short": {"BACKEND": FAIL}, "long": {"BACKEND": LOCMEM}},
        OTP_SMS_MESSAGE="{token} " + "x" * 200,
        DEBUG=True,
    ):
        message = only(checks.check_gateways(), "sms_gateway.E003")
    assert "'short'" in message.msg and "2 SMS parts" in message.msg and "Shorten the message" in message.hint


def test_every_enabled_language_of_a_translated_template_is_checked():
    # (The shipped catalogues themselves are checked in test_translations.)
    # A translation that overflows is caught, naming its language only.
    def render():
        return "{token} " + ("x" * 200 if translation.get_language() == "nb" else "ok")

    with override_settings(
        SMS_GATEWAYS={"short": {"BACKEND": FAIL}},
        LANGUAGES=[("en", "English"), ("nb", "Norsk"), ("sv", "Svenska")],
        OTP_SMS_MESSAGE=lazy(render, str)(),
        DEBUG=True,
    ):
        message = only(checks.check_gateways(), "sms_gateway.E003")
    assert "OTP_SMS_MESSAGE in language nb needs 2 SMS parts" in message.msg


def test_development_backend_with_debug_false():
    with override_settings(SMS_GATEWAYS={"dev": {"BACKEND": CONSOLE}}, DEBUG=False):
        message = only(checks.check_gateways(), "sms_gateway.W001")
    assert "ConsoleBackend" in message.msg and "vendor backend" in message.hint
    with override_settings(SMS_GATEWAYS={"dev": {"BACKEND": CONSOLE}}, DEBUG=True):
        assert checks.check_gateways() == []


def test_django_otp_missing_from_installed_apps():
    with override_settings(INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"]):
        message = only(checks.check_django_otp(), "sms_gateway.E007")
    assert "Add 'django_otp' to INSTALLED_APPS" in message.hint


def test_otp_middleware_missing():
    with override_settings(MIDDLEWARE=["django.contrib.auth.middleware.AuthenticationMiddleware"]):
        message = only(checks.check_django_otp(), "sms_gateway.W002")
    assert "Add 'django_otp.middleware.OTPMiddleware' to MIDDLEWARE, after" in message.hint


def test_otp_middleware_before_authentication():
    with override_settings(MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django_otp.middleware.OTPMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ]):
        message = only(checks.check_django_otp(), "sms_gateway.E008")
    assert "Move 'django_otp.middleware.OTPMiddleware' below" in message.hint
    with override_settings(MIDDLEWARE=["django_otp.middleware.OTPMiddleware"]):
        message = only(checks.check_django_otp(), "sms_gateway.E008")
    assert "and add 'django.contrib.auth.middleware.AuthenticationMiddleware'" in message.hint


def test_otp_middleware_subclass_counts():
    with override_settings(MIDDLEWARE=[
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "tests.fakes.SiteOTPMiddleware",
    ]):
        assert checks.check_django_otp() == []


def test_limits_cache_that_is_not_shared():
    for backend in ("locmem.LocMemCache", "dummy.DummyCache", "filebased.FileBasedCache"):
        caches = {"default": {"BACKEND": f"django.core.cache.backends.{backend}", "LOCATION": "/tmp/x"}}
        with override_settings(CACHES=caches, DEBUG=False):
            message = only(checks.check_caches(), "sms_gateway.W003")
        assert "'default'" in message.msg and "RedisCache" in message.hint
        with override_settings(CACHES=caches, DEBUG=True):
            assert [m for m in checks.check_caches() if m.id == "sms_gateway.W003"] == []
    redis = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    locmem = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    with override_settings(CACHES={"default": locmem, "limits": redis}, OTP_SMS_LIMITS_CACHE="limits", DEBUG=False):
        assert [m for m in checks.check_caches() if m.id in ("sms_gateway.W003", "sms_gateway.E009")] == []


def test_limits_cache_alias_not_in_caches():
    with override_settings(OTP_SMS_LIMITS_CACHE="limits"):
        message = only(checks.check_caches(), "sms_gateway.E009")
    assert "'limits'" in message.msg and "add a 'limits' cache to CACHES" in message.hint


def test_checks_are_registered_with_manage_py_check():
    with override_settings(SMS_GATEWAYS={"a": {"BACKEND": "nope.Backend"}}, MIDDLEWARE=[]):
        found = ids(run_checks())
    assert "sms_gateway.E004" in found and "sms_gateway.W002" in found


def test_bad_breaker_settings():
    messages = gateway_messages(a={"BACKEND": LOCMEM, "BREAKER_THRESHOLD": "3"},
                                b={"BACKEND": LOCMEM, "BREAKER_COOLOFF": 0},
                                c={"BACKEND": LOCMEM, "BREAKER_THRESHOLD": 0, "BREAKER_COOLOFF": 5})
    assert ids(messages) == ["sms_gateway.E014", "sms_gateway.E014"]
    assert "SMS_GATEWAYS['a']: 'BREAKER_THRESHOLD'" in messages[0].msg and messages[0].obj == "SMS_GATEWAYS['a']"
    assert "'BREAKER_COOLOFF'" in messages[1].msg and "0 turns the breaker off" in messages[1].hint
    with override_settings(OTP_SMS_BREAKER_THRESHOLD=-1):
        message = only(gateway_messages(a={"BACKEND": LOCMEM}), "sms_gateway.E014")
    assert "OTP_SMS_BREAKER_THRESHOLD" in message.msg


def test_breaker_cache_alias_not_in_caches():
    # Unset: the limits cache, checked by E009.
    assert [m for m in checks.check_caches() if m.id == "sms_gateway.E014"] == []
    with override_settings(OTP_SMS_BREAKER_CACHE="breaker"):
        message = only([m for m in checks.check_caches() if m.id == "sms_gateway.E014"], "sms_gateway.E014")
    assert "'breaker'" in message.msg and "add a 'breaker' cache to CACHES" in message.hint
    with override_settings(OTP_SMS_BREAKER_CACHE="default"):
        assert [m for m in checks.check_caches() if m.id == "sms_gateway.E014"] == []
    with override_settings(OTP_SMS_BREAKER_CACHE=["breaker"]):  # not an alias at all: E014, not a TypeError
        message = only([m for m in checks.check_caches() if m.id == "sms_gateway.E014"], "sms_gateway.E014")
    assert "['breaker']" in message.msg


def test_lockout_settings_are_reported_with_their_check_id(settings):
    from django_sms_gateway.checks import check_lockout

    assert check_lockout() == []
    settings.OTP_SMS_MAX_FAILURES = "100"
    (error,) = check_lockout()
    assert error.id == "sms_gateway.E020" and "OTP_SMS_MAX_FAILURES" in error.msg and error.hint


# -- caps removed (NIST SP 800-63B rev. 4) and silent settings mistakes --------------------


def test_no_throttling_short_codes_and_long_validity_each_warn():
    assert checks.check_codes() == []
    with override_settings(OTP_SMS_THROTTLE_FACTOR=0):
        assert "never throttled" in only(checks.check_codes(), "sms_gateway.W011").msg
    with override_settings(OTP_SMS_TOKEN_LENGTH=5):
        assert "OTP_SMS_TOKEN_LENGTH is 5" in only(checks.check_codes(), "sms_gateway.W012").msg
    with override_settings(OTP_SMS_TOKEN_LENGTH=6, OTP_SMS_TOKEN_VALIDITY=600):
        assert checks.check_codes() == []
    with override_settings(OTP_SMS_TOKEN_VALIDITY=601):
        message = only(checks.check_codes(), "sms_gateway.W013")
    assert "601 seconds" in message.msg and "600 seconds or less" in message.hint


def test_a_misspelt_setting_names_the_closest_known_one():
    with override_settings(OTP_SMS_LIMIT={"number": (3, 3600)}, OTP_SMS_COOLDOWN=30, SMS_GATEWAY={}):
        messages = [m for m in checks.check_codes() if m.id == "sms_gateway.W014"]
    hints = {m.obj: m.hint for m in messages}
    assert hints == {
        "OTP_SMS_COOLDOWN": "Did you mean OTP_SMS_COOLDOWN_DURATION?",
        "OTP_SMS_LIMIT": "Did you mean OTP_SMS_LIMITS?",
        "SMS_GATEWAY": "Did you mean SMS_GATEWAYS?",
    }
    assert all("is not a django-otp-sms-gateway setting, so it is ignored" in m.msg for m in messages)


def test_plain_http_to_a_host_that_is_not_loopback_is_an_error_without_debug():
    entry = {"BACKEND": "django_sms_gateway.backends.zignsec.ZignSecBackend",
             "OPTIONS": {"api_key": "zk-secret-1", "sender": "Acme", "base_url": "http://gateway.zignsec.com"}}
    with override_settings(SMS_GATEWAYS={"a": entry}, DEBUG=False):
        message = only(checks.check_gateways(), "sms_gateway.E021")
    assert "plain http://" in message.msg and "'gateway.zignsec.com'" in message.msg
    assert "zk-secret" not in message.msg + message.hint
    assert message.obj == "SMS_GATEWAYS['a']"
    with override_settings(SMS_GATEWAYS={"a": entry}, DEBUG=True):
        assert checks.check_gateways() == []
    for loopback in ("http://127.0.0.1:8025/zignsec", "http://localhost:8025", "http://[::1]:8025"):
        local = {**entry, "OPTIONS": {**entry["OPTIONS"], "base_url": loopback}}
        with override_settings(SMS_GATEWAYS={"a": local}, DEBUG=False):
            assert checks.check_gateways() == []


def test_without_sms_gateways_and_debug_the_console_withholds_codes_and_the_check_says_why(capsys):
    from django_sms_gateway.dispatch import build_message, gateways

    with override_settings(SMS_GATEWAYS=None, DEBUG=False):
        message = only(checks.check_gateways(), "sms_gateway.W015")
        assert "withholds every message" in message.msg and "vendor backend" in message.hint
        assert "sms_gateway.W001" not in ids(checks.check_gateways())
        gateways["console"].send(build_message("+4798765432", "123456", validity=300), timeout=1)
    printed = capsys.readouterr().out
    assert "123456" not in printed and "98765432" not in printed and "withheld" in printed
    with override_settings(SMS_GATEWAYS=None, DEBUG=True):
        assert checks.check_gateways() == []
        gateways["console"].send(build_message("+4798765432", "123456", validity=300), timeout=1)
    assert "123456" in capsys.readouterr().out


def test_checks_only_report():
    """No validation is left in checks.py: it names no setting rule of its own."""
    import inspect

    source = inspect.getsource(checks)
    for rule in ("SUPPORTED_REGIONS", "compile_template", "startswith(", "import_string", "isinstance(threshold"):
        assert rule not in source


def test_each_plural_form_of_the_message_is_checked():
    # The form for one minute overflows; with the default validity (5 minutes) the other is sent,
    # but a two-minute code (django-two-factor-auth's) or a changed validity would pick it.
    with override_settings(
        SMS_GATEWAYS={"short": {"BACKEND": FAIL}},
        OTP_SMS_MESSAGE=ngettext_lazy("{token} " + "x" * 200, "{token} valid {minutes} minutes"),
        DEBUG=True,
    ):
        found = checks.check_gateways()
    assert ids(found) == ["sms_gateway.E003"] and "2 SMS parts" in found[0].msg


def test_a_message_setting_of_another_kind_is_reported_once():
    with override_settings(OTP_SMS_MESSAGE=("{token}",), DEBUG=True):
        found = [m for m in run_checks() if m.id == "sms_gateway.E002"]
    assert len(found) == 1 and "OTP_SMS_MESSAGE must be" in found[0].msg


@pytest.mark.parametrize("alias, found", [("missing", "not in CACHES"), ("local", "a LocMemCache cache")])
def test_the_delivery_record_cache_must_be_redis(alias, found):
    local = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    with override_settings(CACHES={**caches.settings, "local": local}, OTP_SMS_DELIVERY_RECORD_CACHE=alias):
        (problem,) = conf.record_cache_problems()
    assert problem.check_id == checks.E049
    assert f"OTP_SMS_DELIVERY_RECORD_CACHE is {alias!r}, which is {found}" in str(problem)
    assert "RedisCache" in problem.hint
