"""Settings are read through conf.settings: defaults, kept values, override_settings."""

from django.test import override_settings

from django_sms_gateway.conf import DEFAULTS, settings


def test_default_when_the_site_sets_nothing():
    assert settings.OTP_SMS_TOKEN_LENGTH == DEFAULTS["OTP_SMS_TOKEN_LENGTH"] == 6


def test_site_setting_wins_and_override_settings_is_seen_at_once():
    assert settings.OTP_SMS_TOKEN_VALIDITY == 300
    with override_settings(OTP_SMS_TOKEN_VALIDITY=30):
        assert settings.OTP_SMS_TOKEN_VALIDITY == 30
    assert settings.OTP_SMS_TOKEN_VALIDITY == 300


def test_values_are_looked_up_once_until_a_setting_changes(monkeypatch):
    import django.conf

    settings.forget()
    lookups = []
    real = type(django.conf.settings).__getattr__

    def counting(self, name):
        lookups.append(name)
        return real(self, name)

    monkeypatch.setattr(type(django.conf.settings), "__getattr__", counting)
    for _ in range(3):
        assert settings.OTP_SMS_SITE_NAME == ""
    assert lookups.count("OTP_SMS_SITE_NAME") == 1


def test_other_django_settings_pass_through():
    assert settings.SECRET_KEY == "tests-not-secret"
