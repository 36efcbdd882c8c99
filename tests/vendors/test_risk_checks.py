"""The shipped risk checks over real HTTP against the sandbox's CAMARA SIM Swap and Twilio
Lookup imitations, through ``SMSDevice`` (and once through the shipped SMS step): a number
swapped within the window gets no SMS and a clear sentence, an old swap does, a lookup that
hangs or fails lets the code out (fail open) or refuses it (fail closed), with signals and
logs that never show the full number."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import include, path

from django_sms_gateway import signals
from django_sms_gateway.exceptions import RiskCheckRefused
from django_sms_gateway.models import DeliveryRecord, SMSDevice
from django_sms_gateway.risk.twilio_lookup import LINE_TYPES
from sms_sandbox import CREDENTIALS, Sandbox
from sms_sandbox.camara import API_PATH

from .helpers import TIMEOUT, gateway_entry

pytestmark = pytest.mark.django_db

NUMBER = "+4798765432"
MASKED = "+47******32"
SUBSCRIBER = "98765432"
SENTENCE = (
    "For your security, we cannot send a code by text message to this phone number right now. "
    "Please use another way to verify, such as an authenticator app or a security key."
)
CAMARA = "django_sms_gateway.risk.camara.CamaraSimSwapCheck"
TWILIO_SIM_SWAP = "django_sms_gateway.risk.twilio_lookup.TwilioSimSwapCheck"
TWILIO_LINE_TYPE = "django_sms_gateway.risk.twilio_lookup.TwilioLineTypeCheck"

urlpatterns = [path("sms/", include("django_sms_gateway.urls"))]


def camara_entry(sandbox: Sandbox, *, fail_closed: bool = False, **options: Any) -> dict[str, Any]:
    base = sandbox.base_url("camara")
    return {"BACKEND": CAMARA, "TIMEOUT": TIMEOUT, "FAIL_CLOSED": fail_closed, "NAME": "camara",
            "OPTIONS": {"base_url": base + API_PATH, "token_url": base + "/token", **CREDENTIALS["camara"],
                        **options}}


def twilio_entry(sandbox: Sandbox, backend: str = TWILIO_SIM_SWAP, *, fail_closed: bool = False,
                 **options: Any) -> dict[str, Any]:
    return {"BACKEND": backend, "TIMEOUT": TIMEOUT, "FAIL_CLOSED": fail_closed, "NAME": "twilio",
            "OPTIONS": {"base_url": sandbox.base_url("twilio_lookup"), **CREDENTIALS["twilio_lookup"], **options}}


@dataclass(frozen=True)
class SimSwapService:
    """One SIM-swap lookup: its fault key, its check's entry, its swap switch, and the
    swap ages inside and outside the window its entry looks at."""

    key: str
    entry: Any
    recent_hours: float
    old_hours: float

    def swap(self, sandbox: Sandbox, number: str, hours_ago: float | None) -> None:
        sandbox.vendors[self.key].set_sim_swap(number, hours_ago)  # type: ignore[attr-defined]


SERVICES = [
    SimSwapService("camara", camara_entry, recent_hours=3, old_hours=24 * 30),  # maxAge 240 hours
    SimSwapService("twilio_lookup", twilio_entry, recent_hours=3, old_hours=24 * 5),  # the account's PT48H
]


@pytest.fixture(params=SERVICES, ids=lambda service: service.key)
def service(request) -> SimSwapService:
    return request.param


@pytest.fixture
def phone(user) -> SMSDevice:
    return SMSDevice.objects.create(user=user, name="Mobile", number=NUMBER, confirmed=True)


@pytest.fixture
def heard():
    """Every ``risk_check_refused`` and ``risk_check_unavailable`` sent, as (signal name, arguments)."""
    seen: list[tuple[str, dict[str, Any]]] = []

    def receiver(signal, sender, **kwargs):
        seen.append(("refused" if signal is signals.risk_check_refused else "unavailable", kwargs))

    signals.risk_check_refused.connect(receiver)
    signals.risk_check_unavailable.connect(receiver)
    yield seen
    signals.risk_check_refused.disconnect(receiver)
    signals.risk_check_unavailable.disconnect(receiver)


@pytest.fixture
def logged(caplog):
    """The package's log lines at DEBUG, formatted."""
    caplog.set_level(logging.DEBUG, logger="django_sms_gateway")
    return lambda: [record.getMessage() for record in caplog.records]


def refused(phone: SMSDevice) -> RiskCheckRefused:
    with pytest.raises(RiskCheckRefused) as caught:
        phone.generate_challenge()
    return caught.value


def assert_nothing_happened(phone: SMSDevice, sms_outbox) -> None:
    """No SMS, no delivery record, no code stored and no cooldown claimed."""
    phone.refresh_from_db()
    assert sms_outbox == [] and not DeliveryRecord.objects.exists()
    assert phone.token is None and phone.last_generated_timestamp is None


# -- SIM swap, both services --------------------------------------------------------------------


def test_a_number_swapped_within_the_window_gets_no_sms_and_a_clear_sentence(
    settings, sandbox, service, phone, sms_outbox, heard, logged
):
    settings.OTP_SMS_RISK_CHECKS = [service.entry(sandbox)]
    service.swap(sandbox, NUMBER, service.recent_hours)

    error = refused(phone)

    assert str(error) == SENTENCE and error.check == service.entry(sandbox)["NAME"]
    assert "SIM swapped within" in error.reason
    assert_nothing_happened(phone, sms_outbox)
    assert [(name, kwargs["number"], kwargs["reason"]) for name, kwargs in heard] == [
        ("refused", MASKED, error.reason)
    ]
    assert heard[0][1]["device"] == phone
    assert any("refused by risk check" in line and MASKED in line for line in logged())
    assert not any(SUBSCRIBER in line for line in logged())


def test_a_number_swapped_long_ago_gets_its_code(settings, sandbox, service, phone, sms_outbox, heard, logged):
    settings.OTP_SMS_RISK_CHECKS = [service.entry(sandbox)]
    service.swap(sandbox, NUMBER, service.old_hours)

    assert phone.generate_challenge() == f"We sent a code by text message to {MASKED}."

    assert [m.recipient for m in sms_outbox] == [NUMBER] and heard == []
    assert sandbox.stats[service.key]["requests"] >= 1
    assert any("allowed the send" in line and MASKED in line for line in logged())
    assert not any(SUBSCRIBER in line for line in logged())


def test_a_number_never_swapped_gets_its_code(settings, sandbox, service, phone, sms_outbox):
    settings.OTP_SMS_RISK_CHECKS = [service.entry(sandbox)]

    phone.generate_challenge()

    assert [m.recipient for m in sms_outbox] == [NUMBER]


def test_a_hung_lookup_is_cut_at_its_timeout_then_the_code_is_sent(
    settings, sandbox, service, phone, sms_outbox, heard, logged
):
    settings.OTP_SMS_RISK_CHECKS = [service.entry(sandbox)]
    service.swap(sandbox, NUMBER, service.recent_hours)  # never learnt: the lookup hangs
    sandbox.set_fault(service.key, "hang")

    phone.generate_challenge()

    assert [m.recipient for m in sms_outbox] == [NUMBER]
    # Our deadline ended the call (the sandbox would hold it for 30 seconds).
    assert [(name, kwargs["reason"], kwargs["fail_closed"]) for name, kwargs in heard] == [
        ("unavailable", "timeout", False)
    ]
    assert any("could not answer" in line and "fail open" in line and MASKED in line for line in logged())
    assert not any(SUBSCRIBER in line for line in logged())


def test_a_hung_lookup_that_fails_closed_refuses_with_the_sentence(
    settings, sandbox, service, phone, sms_outbox, heard
):
    settings.OTP_SMS_RISK_CHECKS = [service.entry(sandbox, fail_closed=True)]
    sandbox.set_fault(service.key, "hang")

    error = refused(phone)

    assert str(error) == SENTENCE and error.reason == "lookup unavailable (timeout)"
    assert_nothing_happened(phone, sms_outbox)
    assert [(name, kwargs["reason"]) for name, kwargs in heard] == [
        ("unavailable", "timeout"), ("refused", "lookup unavailable (timeout)")
    ]


#: (service, fault, the reason the lookup's failure is reported with)
LOOKUP_ERRORS = [
    *[("camara", fault, reason) for fault, reason in [
        ("500", "HTTP 500: INTERNAL"), ("503", "HTTP 503: UNAVAILABLE"),
        ("401", "credentials refused: UNAUTHENTICATED"),
        ("429", "rate limited: TOO_MANY_REQUESTS"), ("422", "request rejected (HTTP 422): SERVICE_NOT_APPLICABLE"),
        ("malformed", "unreadable answer"), ("refuse", "connection failed"),
    ]],
    *[("twilio_lookup", fault, reason) for fault, reason in [
        ("500", "HTTP 500"), ("401", "credentials refused (Twilio 20003)"),
        ("429", "too many requests (Twilio 20429)"), ("malformed", "unreadable answer"),
        ("refuse", "connection failed"),
    ]],
]


@pytest.mark.parametrize(("key", "fault", "reason"), LOOKUP_ERRORS, ids=[f"{k}-{f}" for k, f, _ in LOOKUP_ERRORS])
@pytest.mark.parametrize("fail_closed", [False, True], ids=["fail-open", "fail-closed"])
def test_a_lookup_error_follows_the_entrys_policy(settings, sandbox, phone, sms_outbox, heard, key, fault, reason,
                                                  fail_closed):
    service = next(service for service in SERVICES if service.key == key)
    settings.OTP_SMS_RISK_CHECKS = [service.entry(sandbox, fail_closed=fail_closed)]
    sandbox.set_fault(key, fault)

    if fail_closed:
        assert str(refused(phone)) == SENTENCE
        assert_nothing_happened(phone, sms_outbox)
    else:
        phone.generate_challenge()
        assert [m.recipient for m in sms_outbox] == [NUMBER]
    assert heard[0] == ("unavailable", {"check": service.entry(sandbox)["NAME"], "number": MASKED,
                                        "reason": reason, "fail_closed": fail_closed})


def test_the_lookup_time_comes_out_of_the_walks_budget(settings, sandbox, service, phone, sms_outbox, monkeypatch):
    from django_sms_gateway import models

    given: list[float] = []
    walk = models.send_message
    monkeypatch.setattr(models, "send_message", lambda message, **kwargs: given.append(kwargs["spent"]) or walk(
        message, **kwargs))
    settings.OTP_SMS_RISK_CHECKS = [service.entry(sandbox)]

    phone.generate_challenge()

    assert len(given) == 1 and given[0] > 0
    assert [m.recipient for m in sms_outbox] == [NUMBER]


def test_a_refusal_counts_against_no_sending_limit(settings, sandbox, service, phone, sms_outbox):
    from tests.limiting import sending_limits

    settings.OTP_SMS_RISK_CHECKS = [service.entry(sandbox)]
    service.swap(sandbox, NUMBER, service.recent_hours)
    with sending_limits(number=(1, 3600)):
        for _ in range(3):
            refused(phone)
        service.swap(sandbox, NUMBER, None)
        phone.generate_challenge()  # the one send the limit allows is still there
    assert [m.recipient for m in sms_outbox] == [NUMBER]


# -- CAMARA -------------------------------------------------------------------------------------


def test_camara_gets_the_number_and_max_age_with_a_bearer_token(settings, sandbox, phone, sms_outbox):
    settings.OTP_SMS_RISK_CHECKS = [camara_entry(sandbox, max_age=72)]
    sandbox.vendors["camara"].set_sim_swap(NUMBER, 100)  # type: ignore[attr-defined]

    phone.generate_challenge()  # swapped 100 hours ago: outside 72

    request = sandbox.last_request("camara")
    assert request is not None and request.parsed == {"phoneNumber": NUMBER, "maxAge": 72}
    assert request.headers["Authorization"].startswith("Bearer ")
    assert [m.recipient for m in sms_outbox] == [NUMBER]


def test_camara_refused_client_credentials_are_a_lookup_that_cannot_answer(settings, sandbox, phone, sms_outbox,
                                                                            heard):
    settings.OTP_SMS_RISK_CHECKS = [camara_entry(sandbox, client_secret="not-the-secret")]

    phone.generate_challenge()

    assert [m.recipient for m in sms_outbox] == [NUMBER]
    assert heard[0][1]["reason"] == "token request refused (HTTP 401, invalid_client)"


def test_camara_number_the_operator_does_not_serve_fails_closed(settings, sandbox, phone, sms_outbox, heard):
    settings.OTP_SMS_RISK_CHECKS = [camara_entry(sandbox, fail_closed=True)]
    sandbox.vendors["camara"].set_not_applicable(NUMBER)  # type: ignore[attr-defined]

    assert str(refused(phone)) == SENTENCE
    assert heard[0][1]["reason"] == "request rejected (HTTP 422): SERVICE_NOT_APPLICABLE"


# -- Twilio Lookup ------------------------------------------------------------------------------


def test_twilio_sim_swap_max_age_reads_the_swap_date(settings, sandbox, phone, sms_outbox):
    lookup = sandbox.vendors["twilio_lookup"]
    settings.OTP_SMS_RISK_CHECKS = [twilio_entry(sandbox, max_age=72)]
    lookup.set_sim_swap(NUMBER, 60)  # type: ignore[attr-defined]  # outside Twilio's 48 hours, inside 72

    assert "within 72 hours" in refused(phone).reason

    lookup.set_sim_swap(NUMBER, 60, with_date=False)  # type: ignore[attr-defined]  # no date: Twilio's period decides
    phone.generate_challenge()
    assert [m.recipient for m in sms_outbox] == [NUMBER]
    request = sandbox.last_request("twilio_lookup")
    assert request is not None and request.path.endswith(f"/v2/PhoneNumbers/{NUMBER}")


def test_twilio_carrier_error_is_a_lookup_that_cannot_answer(settings, sandbox, phone, sms_outbox, heard):
    settings.OTP_SMS_RISK_CHECKS = [twilio_entry(sandbox)]
    sandbox.vendors["twilio_lookup"].set_error(NUMBER, "sim_swap", 60620)  # type: ignore[attr-defined]

    phone.generate_challenge()

    assert [m.recipient for m in sms_outbox] == [NUMBER]
    assert heard[0][1]["reason"] == "Twilio Lookup error 60620"


@pytest.mark.parametrize("line_type", [kind for kind in LINE_TYPES if kind != "mobile"])
def test_the_line_type_check_refuses_every_type_but_mobile_by_default(settings, sandbox, phone, sms_outbox,
                                                                      line_type):
    settings.OTP_SMS_RISK_CHECKS = [twilio_entry(sandbox, TWILIO_LINE_TYPE)]
    sandbox.vendors["twilio_lookup"].set_line_type(NUMBER, line_type)  # type: ignore[attr-defined]

    error = refused(phone)

    assert error.reason == f"line type {line_type} is not allowed" and str(error) == SENTENCE
    assert_nothing_happened(phone, sms_outbox)


def test_the_line_type_check_lets_mobile_and_the_types_a_site_allows_through(settings, sandbox, phone, sms_outbox):
    settings.OTP_SMS_RISK_CHECKS = [twilio_entry(sandbox, TWILIO_LINE_TYPE, allowed_types=["mobile", "fixedVoip"])]
    phone.generate_challenge()
    sandbox.vendors["twilio_lookup"].set_line_type(NUMBER, "fixedVoip")  # type: ignore[attr-defined]
    phone.generate_challenge()

    assert [m.recipient for m in sms_outbox] == [NUMBER, NUMBER]


def test_both_twilio_checks_run_in_order_and_the_first_refusal_ends_the_run(settings, sandbox, phone, sms_outbox):
    lookup = sandbox.vendors["twilio_lookup"]
    settings.OTP_SMS_RISK_CHECKS = [
        {**twilio_entry(sandbox, TWILIO_LINE_TYPE), "NAME": "line type"}, {**twilio_entry(sandbox), "NAME": "swap"},
    ]
    lookup.set_line_type(NUMBER, "landline")  # type: ignore[attr-defined]

    assert refused(phone).check == "line type"
    assert sandbox.stats["twilio_lookup"]["requests"] == 1

    lookup.set_line_type(NUMBER, None)  # type: ignore[attr-defined]
    lookup.set_sim_swap(NUMBER, 1)  # type: ignore[attr-defined]
    assert refused(phone).check == "swap"
    assert sandbox.stats["twilio_lookup"]["requests"] == 3


# -- the shipped SMS step -----------------------------------------------------------------------


def test_the_sms_step_shows_the_sentence_and_sends_nothing(settings, sandbox, phone, user):
    settings.ROOT_URLCONF = __name__
    settings.SMS_GATEWAYS = {"infobip": gateway_entry("infobip", sandbox)}
    settings.OTP_SMS_RISK_CHECKS = [camara_entry(sandbox)]
    sandbox.vendors["camara"].set_sim_swap(NUMBER, 1)  # type: ignore[attr-defined]
    client = Client()
    client.force_login(user)

    page = client.post("/sms/verify/", {"otp_device": phone.persistent_id, "otp_challenge": "1"}, follow=True)

    assert page.status_code == 200
    assert "For your security, we cannot send a code by text message" in page.content.decode()
    assert sandbox.messages == [] and sandbox.stats["infobip"]["requests"] == 0
