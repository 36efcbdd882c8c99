"""``OTP_SMS_RISK_CHECKS``: reading the setting (E046), building each check (E047, E048,
E021), the start-up warning (W035), and the contract a site's own check relies on
(what it is given, its verdicts, its errors, the order and the budget)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any, ClassVar

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import RequestFactory

from django_sms_gateway import checks, risk
from django_sms_gateway.backends.base import Option
from django_sms_gateway.conf import RISK_CHECK_TIMEOUT
from django_sms_gateway.conf import settings as sms_settings
from django_sms_gateway.exceptions import ConfigurationError, GatewayTimeout, RiskCheckRefused
from django_sms_gateway.risk import RiskCheck, Verdict, allow, refuse

pytestmark = pytest.mark.django_db

NUMBER = "+4798765432"
CAMARA = "django_sms_gateway.risk.camara.CamaraSimSwapCheck"
CAMARA_OPTIONS = {"base_url": "https://api.example.com/sim-swap/v2", "token_url": "https://api.example.com/token",
                  "client_id": "acme-client", "client_secret": "s3cr3t-value"}
LINE_TYPE = "django_sms_gateway.risk.twilio_lookup.TwilioLineTypeCheck"
TWILIO_OPTIONS = {"account_sid": "AC" + "0" * 32, "auth_token": "t0ken-value"}

#: What the test checks below were given and did, in order.
seen: list[tuple[str, Any]] = []


class Allows(RiskCheck):
    options: ClassVar[dict[str, Option]] = {"note": Option("ok", kind="text", doc="what to say")}

    def check(self, number: str, *, device: Any, request: Any, timeout: float) -> Verdict:
        seen.append((self.alias, (number, device, request, timeout)))
        return allow(self.config["note"])


class Refuses(RiskCheck):
    def check(self, number: str, *, device: Any, request: Any, timeout: float) -> Verdict:
        seen.append((self.alias, number))
        return refuse("premium range")


class LookupDown(RiskCheck):
    def check(self, number: str, *, device: Any, request: Any, timeout: float) -> Verdict:
        seen.append((self.alias, number))
        raise self.error(GatewayTimeout, "timeout")


class Broken(RiskCheck):
    def check(self, number: str, *, device: Any, request: Any, timeout: float) -> Verdict:
        raise ZeroDivisionError(f"oops for {number}")


class NoVerdict(RiskCheck):
    def check(self, number: str, *, device: Any, request: Any, timeout: float) -> Any:
        return True


class NotACheck:
    pass


def path(cls: type) -> str:
    return f"{__name__}.{cls.__name__}"


@pytest.fixture(autouse=True)
def _forget_seen():
    seen.clear()
    yield
    seen.clear()


@pytest.fixture
def configured(settings):
    def configure(*entries: Any) -> None:
        settings.OTP_SMS_RISK_CHECKS = list(entries)
    return configure


def problems() -> list[tuple[str, str]]:
    return [(message.id, message.msg) for message in checks.check_risk_checks()]


# -- reading the setting ------------------------------------------------------------------------


def test_a_dotted_path_is_an_entry_with_the_defaults(configured):
    configured(path(Allows))

    [entry] = sms_settings.OTP_SMS_RISK_CHECKS

    assert (entry.index, entry.name, entry.backend, dict(entry.options), entry.timeout, entry.fail_closed) == (
        0, "Allows", path(Allows), {}, RISK_CHECK_TIMEOUT, False)
    assert entry.where == "OTP_SMS_RISK_CHECKS[0]"


def test_a_dict_entry_gives_options_timeout_policy_and_name(configured):
    configured({"BACKEND": path(Allows), "OPTIONS": {"note": "hi"}, "TIMEOUT": 0.5, "FAIL_CLOSED": True,
                "NAME": "mine"})

    [entry] = sms_settings.OTP_SMS_RISK_CHECKS

    assert (entry.name, dict(entry.options), entry.timeout, entry.fail_closed) == ("mine", {"note": "hi"}, 0.5, True)


@pytest.mark.parametrize(("value", "words"), [
    ("tests.test_risk_checks.Allows", "must be a list"),
    ({"BACKEND": "x.Y"}, "must be a list"),
    ([42], "[0] must be a dotted path or a dict"),
    ([{"BACKEND": "x.Y", "OPTION": {}}], "unknown key 'OPTION'"),
    ([{"OPTIONS": {}}], "'BACKEND' must be the dotted path"),
    (["Allows"], "'BACKEND' must be the dotted path"),
    ([{"BACKEND": "x.Y", "OPTIONS": ["a"]}], "'OPTIONS' must be a dict"),
    ([{"BACKEND": "x.Y", "TIMEOUT": 0}], "OTP_SMS_RISK_CHECKS[0]['TIMEOUT'] must be a number of seconds"),
    ([{"BACKEND": "x.Y", "TIMEOUT": "2"}], "['TIMEOUT'] must be a number of seconds"),
    ([{"BACKEND": "x.Y", "FAIL_CLOSED": "yes"}], "'FAIL_CLOSED' must be True or False"),
    ([{"BACKEND": "x.Y", "NAME": "a\nb"}], "'NAME' must be printable"),
    (["x.Y", "z.Y"], "[1]: two risk checks are named 'Y'"),
])
def test_a_wrong_setting_is_e046_naming_what_is_wrong(settings, value, words):
    settings.OTP_SMS_RISK_CHECKS = value

    with pytest.raises(ConfigurationError) as caught:
        _ = sms_settings.OTP_SMS_RISK_CHECKS

    assert caught.value.check_id == checks.E046 and words in str(caught.value)
    assert problems() == [(checks.E046, str(caught.value))]


# -- building each check ------------------------------------------------------------------------


def test_an_entry_that_cannot_be_imported_is_e047(configured):
    configured("tests.no_such_module.Check", path(NotACheck), path(Allows))

    found = problems()

    assert [check_id for check_id, _ in found] == [checks.E047, checks.E047]
    assert "OTP_SMS_RISK_CHECKS[0]: cannot import BACKEND 'tests.no_such_module.Check'" in found[0][1]
    assert found[1][1] == f"OTP_SMS_RISK_CHECKS[1]: BACKEND '{path(NotACheck)}' is not a risk check class."


@pytest.mark.parametrize(("backend", "options", "words"), [
    (path(Allows), {"nope": 1}, "unknown option 'nope' (allowed: note)"),
    (path(Allows), {"note": ""}, "option 'note' must be a non-empty string"),
    (CAMARA, {**CAMARA_OPTIONS, "max_age": 0}, "option 'max_age' must be a whole number from 1 to 2400"),
    (CAMARA, {k: v for k, v in CAMARA_OPTIONS.items() if k != "token_url"}, "option 'token_url' is required"),
    (CAMARA, {**CAMARA_OPTIONS, "client_secret": "<your secret>"}, "is a placeholder"),
    (LINE_TYPE, {**TWILIO_OPTIONS, "allowed_types": ["mobile", "cell"]}, "('cell' is not one)"),
    (LINE_TYPE, {**TWILIO_OPTIONS, "allowed_types": "mobile"}, "must be a list of Twilio line types"),
    (LINE_TYPE, {"auth_token": "t0ken-value"}, "option 'account_sid' is required"),
])
def test_wrong_options_are_e048_naming_the_entry_and_the_option(configured, backend, options, words):
    configured({"BACKEND": backend, "OPTIONS": options})

    [(check_id, message)] = problems()

    assert check_id == checks.E048 and message.startswith("OTP_SMS_RISK_CHECKS[0] (") and words in message


def test_a_lookup_over_plain_http_to_another_host_is_e021(configured):
    configured({"BACKEND": CAMARA, "OPTIONS": {**CAMARA_OPTIONS, "base_url": "http://api.example.com/sim-swap/v2"}})

    [(check_id, message)] = problems()

    assert check_id == checks.E021 and "plain http://" in message


def test_the_shipped_checks_build_with_their_documented_defaults(configured):
    configured({"BACKEND": CAMARA, "OPTIONS": CAMARA_OPTIONS}, {"BACKEND": LINE_TYPE, "OPTIONS": TWILIO_OPTIONS})

    (_, camara), (_, line_type) = risk.registry.all()

    assert camara.config["max_age"] == 240 and camara.config["scope"] == "sim-swap:check"
    assert line_type.base_url == "https://lookups.twilio.com" and tuple(line_type.config["allowed_types"]) == (
        "mobile",)
    assert problems() == []


# -- start-up warnings --------------------------------------------------------------------------


def test_lookups_that_leave_the_first_gateway_too_little_time_are_w035(settings, configured):
    settings.OTP_SMS_CHALLENGE_BUDGET = 6
    settings.OTP_SMS_GATEWAY_TIMEOUT = 3
    configured({"BACKEND": path(Allows), "TIMEOUT": 2})
    assert problems() == []

    configured({"BACKEND": path(Allows), "TIMEOUT": 2}, {"BACKEND": path(Refuses), "TIMEOUT": 2})

    [(check_id, message)] = problems()
    assert check_id == checks.W035 and "may take 4 seconds and gateway 'locmem' 3" in message


def test_manage_py_check_reports_them(configured):
    configured("tests.no_such_module.Check")

    with pytest.raises(SystemCheckError, match="sms_gateway.E047"):
        call_command("check")


# -- the contract of a check --------------------------------------------------------------------


def test_a_check_gets_the_number_the_device_the_request_and_its_timeout(configured, phone, sms_outbox):
    configured({"BACKEND": path(Allows), "TIMEOUT": 0.75, "NAME": "first"})
    request = RequestFactory().post("/sms/verify/")

    phone.send_code(request=request)

    assert seen == [("first", (NUMBER, phone, request, 0.75))]
    assert [m.recipient for m in sms_outbox] == [NUMBER]


def test_a_refusal_raises_after_the_signal_and_later_checks_do_not_run(configured, phone, sms_outbox):
    configured(path(Allows), path(Refuses), path(LookupDown))

    with pytest.raises(RiskCheckRefused) as caught:
        phone.generate_challenge()

    assert (caught.value.check, caught.value.reason) == ("Refuses", "premium range")
    assert [name for name, _ in seen] == ["Allows", "Refuses"] and sms_outbox == []


def test_send_challenge_says_the_sentence_without_raising(configured, phone, sms_outbox):
    configured(path(Refuses))

    outcome = phone.send_challenge()

    assert outcome.failed and outcome.message == str(RiskCheckRefused("x", "y"))


@pytest.mark.parametrize(("cls", "reason"), [
    (LookupDown, "timeout"), (Broken, "check error (ZeroDivisionError)"), (NoVerdict, "no verdict"),
])
@pytest.mark.parametrize("fail_closed", [False, True])
def test_a_check_that_cannot_answer_follows_fail_closed(configured, phone, sms_outbox, caplog, cls, reason,
                                                        fail_closed):
    configured({"BACKEND": path(cls), "FAIL_CLOSED": fail_closed})

    if fail_closed:
        with pytest.raises(RiskCheckRefused) as caught:
            phone.generate_challenge()
        assert caught.value.reason == f"lookup unavailable ({reason})"
        assert sms_outbox == []
    else:
        phone.generate_challenge()
        assert [m.recipient for m in sms_outbox] == [NUMBER]
    assert any(f"({reason})" in record.getMessage() for record in caplog.records)


def test_no_time_left_in_the_budget_counts_as_a_lookup_that_cannot_answer(configured, phone, sms_outbox,
                                                                           monkeypatch):
    configured({"BACKEND": path(LookupDown), "FAIL_CLOSED": True})
    monkeypatch.setattr(risk, "MIN_CHECK_SECONDS", sms_settings.OTP_SMS_CHALLENGE_BUDGET + 1)

    with pytest.raises(RiskCheckRefused) as caught:
        phone.generate_challenge()

    assert caught.value.reason == "lookup unavailable (time budget spent)" and seen == []


def test_changed_settings_rebuild_the_checks(configured):
    configured({"BACKEND": path(Allows), "OPTIONS": {"note": "one"}})
    (_, first), = risk.registry.all()
    assert risk.registry.all()[0][1] is first

    configured({"BACKEND": path(Allows), "OPTIONS": {"note": "two"}})

    assert risk.registry.all()[0][1].config["note"] == "two"


def test_the_app_loads_without_importing_the_risk_checks():
    code = (
        "import django, os, sys; os.environ['DJANGO_SETTINGS_MODULE'] = 'tests.settings'; django.setup();"
        "from django_sms_gateway import models; print('django_sms_gateway.risk' in sys.modules)"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"


@pytest.mark.parametrize("language", ["nb", "sv", "id"])
def test_the_sentence_is_in_the_users_language(configured, phone, language):
    from django.utils import translation

    configured(path(Refuses))
    english = phone.send_challenge().message

    with translation.override(language):
        outcome = phone.send_challenge()

    assert outcome.failed and outcome.message and outcome.message != english


def test_a_token_url_over_plain_http_to_another_host_is_e021(configured):
    configured({"BACKEND": CAMARA, "OPTIONS": {**CAMARA_OPTIONS, "token_url": "http://auth.example.com/token"}})

    [(check_id, message)] = problems()

    assert check_id == checks.E021 and "option 'token_url' is plain http://" in message
