"""The example site: password, then the SMS step (django-otp's OTPTokenForm),
then the page guarded by ``otp_required``; enrolling a phone; failures shown
safely; the ``demo`` command's setup."""

from __future__ import annotations

import logging
import re
import socket
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F
from django.test import Client, override_settings
from freezegun import freeze_time

from demo.demo_user import DEMO_NUMBER, DEMO_PASSWORD, DEMO_USERNAME, ensure_demo_user
from demo.management.commands.demo import Command as DemoCommand
from django_sms_gateway.exceptions import SendLimitExceeded
from django_sms_gateway.models import SMSDevice
from django_sms_gateway.testing import last_code
from example_project import demo_sms

from .example_site import example_settings

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse"
FAILING_GATEWAYS = {"broken": {"BACKEND": "tests.fakes.FailingBackend", "OPTIONS": {"error": "GatewayUnavailable"}}}
# A vendor error (HTTP 5xx) may still have sent the SMS: the page does not say it was not sent.
SAFE_FAILURE = "We could not confirm that the text message was sent. If no code arrives, try again."


@pytest.fixture(autouse=True)
def example_site():
    with override_settings(**example_settings()):
        yield


@pytest.fixture
def no_throttle():
    with override_settings(OTP_SMS_THROTTLE_FACTOR=0):
        yield


def sign_in(client: Client, username: str = "alice", next_url: str | None = None):
    data = {"username": username, "password": PASSWORD}
    url = "/accounts/login/" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def notice_of(response) -> str | None:
    """The outcome of "Send code" that the SMS step shows once, after its redirect."""
    notice = response.context.get("notice") if response.context else None
    return notice.message if notice else None


def send_code(client: Client, device: SMSDevice, url: str = "/sms/verify/?next=/"):
    return client.post(url, {"otp_device": device.persistent_id, "otp_challenge": "1"}, follow=True)


def enter_code(client: Client, device: SMSDevice, code: str, url: str = "/sms/verify/?next=/"):
    return client.post(url, {"otp_device": device.persistent_id, "otp_token": code})


def assert_no_leak(response) -> None:
    body = response.content.decode()
    assert "Traceback" not in body and "made to fail" not in body and "98765432" not in body


# -- sign-in flow ---------------------------------------------------------


def test_sign_in_with_password_then_sms_code_reaches_protected_page(client, user, phone, sms_outbox, no_throttle):
    response = sign_in(client)
    assert response.status_code == 302 and response["Location"] == "/sms/verify/?next=%2F"

    page = client.get(response["Location"])
    body = page.content.decode()
    assert page.status_code == 200
    assert 'id="sms-send"' in body and ">Send code<" in body
    assert 'autocomplete="one-time-code"' in body and 'inputmode="numeric"' in body
    assert 'maxlength="6"' in body and 'pattern="[0-9]{6}"' in body
    assert "Mobile (+47******32)" in body and "98765432" not in body
    assert sms_outbox == []  # nothing is sent until the user asks

    after_send = send_code(client, phone)
    assert after_send.redirect_chain == [("/sms/verify/?next=/", 302)]
    assert notice_of(after_send) == "We sent a code by text message to +47******32."
    assert [m.recipient for m in sms_outbox] == ["+4798765432"]
    code = last_code()
    assert code not in after_send.content.decode()

    wrong = enter_code(client, phone, "000000" if code != "000000" else "111111")
    assert wrong.status_code == 200
    assert "That code is not right. Check the text message and try again." in wrong.content.decode()
    assert not client.get("/").status_code == 200

    session_before = client.session.session_key
    right = enter_code(client, phone, code)
    assert right.status_code == 302 and right["Location"] == "/"
    assert client.session.session_key != session_before  # a new session key for the raised privilege

    home = client.get("/")
    body = home.content.decode()
    assert home.status_code == 200
    assert 'id="user-name">alice<' in body
    assert "Mobile" in body and "+47******32" in body and "98765432" not in body
    assert home.wsgi_request.user.otp_device == phone


def test_code_cannot_be_used_twice(client, user, phone, sms_outbox, no_throttle):
    sign_in(client)
    send_code(client, phone)
    code = last_code()
    assert enter_code(client, phone, code)["Location"] == "/"
    client.post("/accounts/logout/")
    sign_in(client)
    again = enter_code(client, phone, code)
    assert again.status_code == 200 and "That code was already used. Send a new code." in again.content.decode()


def test_protected_page_refuses_sessions_without_a_verified_code(client, user, phone):
    anonymous = client.get("/")
    assert anonymous.status_code == 302 and anonymous["Location"] == "/accounts/login/?next=/"

    sign_in(client)
    password_only = client.get("/")
    assert password_only.status_code == 302 and password_only["Location"] == "/sms/verify/?next=/"

    no_code = enter_code(client, phone, "")
    assert no_code.status_code == 200 and "Enter the code from the text message." in no_code.content.decode()
    assert client.get("/").status_code == 302


def test_another_users_device_cannot_verify_the_session(client, user, phone, sms_outbox, no_throttle):
    mallory = get_user_model().objects.create_user("mallory", password=PASSWORD)
    own = SMSDevice.objects.create(user=mallory, name="Mine", number="+4791234567", confirmed=True)
    phone.generate_challenge()
    alices_code = last_code()
    sign_in(client, "mallory")
    response = enter_code(client, phone, alices_code)  # alice's device id, alice's code
    assert response.status_code == 200
    assert client.get("/").status_code == 302
    assert SMSDevice.objects.get(pk=own.pk).throttling_failure_count == 0


def test_wrong_codes_are_throttled(client, user, phone, sms_outbox):
    sign_in(client)
    send_code(client, phone)
    enter_code(client, phone, "000001")
    throttled = enter_code(client, phone, last_code())
    assert throttled.status_code == 200
    assert "Wait 1 second before the next try." in throttled.content.decode()
    assert client.get("/").status_code == 302


def test_resend_shows_the_cooldown_and_sends_again_after_it(client, user, phone, sms_outbox):
    with freeze_time("2026-01-05 10:00:00") as clock:
        sign_in(client)
        send_code(client, phone)
        page = client.get("/sms/verify/?next=/").content.decode()
        assert ">Send a new code<" in page and 'data-sms-cooldown="30"' in page
        assert "You can ask for a new code in <span data-sms-seconds>30</span> seconds." in page

        clock.tick(timedelta(seconds=12))
        too_soon = send_code(client, phone)
        assert notice_of(too_soon) == "A code was sent recently. You can ask for a new one in 18 seconds."
        assert 'class="sms-notice sms-cooldown"' in too_soon.content.decode()
        assert len(sms_outbox) == 1

        clock.tick(timedelta(seconds=19))
        assert 'id="sms-cooldown"' not in client.get("/sms/verify/?next=/").content.decode()
        resent = send_code(client, phone)
        assert notice_of(resent) == "We sent a code by text message to +47******32."
        assert len(sms_outbox) == 2 and sms_outbox[0].code != sms_outbox[1].code


def test_user_with_several_phones_chooses_where_the_code_goes(client, user, phone, sms_outbox, no_throttle):
    work = SMSDevice.objects.create(user=user, name="Work", number="+4791234567", confirmed=True)
    SMSDevice.objects.create(user=user, name="Not confirmed", number="+4791234568", confirmed=False)
    sign_in(client)
    page = client.get("/sms/verify/?next=/").content.decode()
    assert f'id="sms-device-{phone.pk}"' in page and f'id="sms-device-{work.pk}"' in page
    assert "Work (+47******67)" in page and "Not confirmed" not in page

    chosen = send_code(client, work)
    assert [m.recipient for m in sms_outbox] == ["+4791234567"]
    body = chosen.content.decode()
    # The chosen phone stays selected, and the code form verifies against it.
    assert re.search(rf'id="sms-device-{work.pk}" value="[^"]+" checked', body)
    assert enter_code(client, work, last_code())["Location"] == "/"
    assert "Work" in client.get("/").content.decode()


def test_next_is_kept_through_both_steps_and_foreign_urls_are_dropped(client, user, phone, sms_outbox, no_throttle):
    assert sign_in(client, next_url="/account/phones/")["Location"] == "/sms/verify/?next=%2Faccount%2Fphones%2F"
    client.post("/accounts/logout/")
    assert sign_in(client, next_url="https://evil.example/")["Location"] == "/sms/verify/?next=%2F"
    send_code(client, phone, "/sms/verify/?next=https://evil.example/")
    response = enter_code(client, phone, last_code(), "/sms/verify/?next=https://evil.example/")
    assert response["Location"] == "/"


def test_sign_out_ends_the_verified_session(client, user, phone, sms_outbox, no_throttle):
    sign_in(client)
    send_code(client, phone)
    enter_code(client, phone, last_code())
    assert client.get("/").status_code == 200
    out = client.post("/accounts/logout/")
    assert out.status_code == 302 and out["Location"] == "/accounts/login/"
    assert client.get("/")["Location"] == "/accounts/login/?next=/"


# -- failures shown to the user -------------------------------------------


@override_settings(SMS_GATEWAYS=FAILING_GATEWAYS)
def test_delivery_failure_shows_the_user_safe_text(client, user, phone, caplog):
    sign_in(client)
    response = send_code(client, phone)
    assert response.status_code == 200
    assert notice_of(response) == SAFE_FAILURE
    assert 'class="sms-notice sms-failed" id="sms-notice" role="alert"' in response.content.decode()
    assert_no_leak(response)
    # A vendor error (HTTP 5xx) may still have sent the SMS: its code stays good and the cooldown
    # stays, so that asking again is not charged at once (a send no vendor took gives both back).
    assert 'id="sms-cooldown"' in response.content.decode()


def test_a_send_limit_shows_its_user_safe_text(client, user, phone, monkeypatch):
    def refuse(self, request=None, **options):
        raise SendLimitExceeded("per_number", "Too many codes were sent to this number. Try again in an hour.", 3600)

    monkeypatch.setattr(SMSDevice, "send_code", refuse)
    sign_in(client)
    response = send_code(client, phone)
    assert notice_of(response) == "Too many codes were sent to this number. Try again in an hour."


def test_an_unexpected_error_is_logged_and_shown_as_a_generic_sentence(client, user, phone, monkeypatch, caplog):
    def explode(self, request=None):
        raise RuntimeError("secret-internal-detail")

    monkeypatch.setattr(SMSDevice, "send_code", explode)
    sign_in(client)
    with caplog.at_level(logging.ERROR, logger="django_sms_gateway"):
        response = send_code(client, phone)
    assert response.status_code == 200
    assert notice_of(response) == "Text messages are not available right now. Please try again later."
    assert "secret-internal-detail" not in response.content.decode()
    assert any(record.exc_info for record in caplog.records)


# -- phones: enrolment, confirmation, removal ------------------------------


def test_user_without_a_phone_enrols_and_is_then_verified(client, user, sms_outbox, no_throttle):
    response = sign_in(client)
    assert response["Location"] == "/account/phones/?next=%2F"
    page = client.get(response["Location"])
    assert page.status_code == 200 and 'id="no-phones"' in page.content.decode()
    assert messages_of(page) == ["Add your mobile number: from now on, signing in needs a code sent to it."]
    assert client.get("/")["Location"] == "/sms/verify/?next=/"
    assert client.get("/sms/verify/?next=/")["Location"] == "/account/phones/?next=%2F"

    bad = client.post("/account/phones/?next=/", {"number": "+47 98a 65 432", "name": "", "next": "/"})
    body = bad.content.decode()
    assert bad.status_code == 200
    assert 'id="id_number_errors"' in body and "The phone number may contain digits only, not letters." in body
    assert not SMSDevice.objects.filter(user=user).exists() and sms_outbox == []

    landline = client.post("/account/phones/", {"number": "+47 22 22 22 22", "next": "/"})
    assert "Enter a mobile phone number." in landline.content.decode()

    added = client.post("/account/phones/", {"number": "+47 912 34 567", "name": "", "next": "/"}, follow=True)
    device = SMSDevice.objects.get(user=user)
    assert device.number == "+4791234567" and device.confirmed is False and device.name == "Phone"
    assert [m.recipient for m in sms_outbox] == ["+4791234567"]
    assert messages_of(added) == ["We sent a code by text message to +47******67."]
    body = added.content.decode()
    assert f'id="confirm-code-{device.pk}"' in body and "Code sent to +47******67" in body
    assert "Waiting for its code" in body

    wrong = client.post(f"/account/phones/{device.pk}/confirm/", {"code": "000000", "next": "/"})
    assert wrong.status_code == 200
    assert f'id="confirm-code-{device.pk}_errors"' in wrong.content.decode()
    assert SMSDevice.objects.get(pk=device.pk).confirmed is False

    confirmed = client.post(f"/account/phones/{device.pk}/confirm/", {"code": last_code(), "next": "/"})
    assert confirmed.status_code == 302 and confirmed["Location"] == "/"
    assert SMSDevice.objects.get(pk=device.pk).confirmed is True
    home = client.get("/")
    assert home.status_code == 200 and "+47******67" in home.content.decode()


def test_verified_user_adds_a_second_phone_and_removes_one(client, user, phone, sms_outbox, no_throttle):
    sign_in(client)
    send_code(client, phone)
    enter_code(client, phone, last_code())

    duplicate = client.post("/account/phones/", {"number": "+47 987 65 432"})
    assert "This number is already on your account." in duplicate.content.decode()

    client.post("/account/phones/", {"number": "+4791234567", "name": "Work"})
    work = SMSDevice.objects.get(user=user, name="Work")
    assert client.post(f"/account/phones/{work.pk}/confirm/", {"code": last_code()})["Location"] == "/account/phones/"
    page = client.get("/account/phones/").content.decode()
    assert "Work (+47******67)" in page and "Used for this sign-in" in page
    assert client.get("/").wsgi_request.user.otp_device == phone  # still verified by the first phone

    removed = client.post(f"/account/phones/{work.pk}/remove/", follow=True)
    assert messages_of(removed) == ["Work (+47******67) was removed."]
    assert not SMSDevice.objects.filter(pk=work.pk).exists()


def test_phones_page_needs_a_verified_session_once_a_phone_is_confirmed(client, user, phone):
    assert client.get("/account/phones/")["Location"] == "/accounts/login/?next=/account/phones/"
    sign_in(client)
    assert client.get("/account/phones/")["Location"] == "/sms/verify/?next=/account/phones/"
    assert client.post(f"/account/phones/{phone.pk}/remove/").status_code == 302
    assert SMSDevice.objects.filter(pk=phone.pk).exists()


def test_phones_of_other_users_cannot_be_touched(client, user, sms_outbox):
    other = get_user_model().objects.create_user("bob", password=PASSWORD)
    theirs = SMSDevice.objects.create(user=other, name="Bob", number="+4791234567", confirmed=False)
    sign_in(client)  # alice has no phone: she may use the phones page
    for action in ("confirm", "send", "remove"):
        assert client.post(f"/account/phones/{theirs.pk}/{action}/", {"code": "123456"}).status_code == 404
    assert SMSDevice.objects.filter(pk=theirs.pk).exists() and sms_outbox == []


@override_settings(SMS_GATEWAYS=FAILING_GATEWAYS)
def test_enrolment_whose_code_cannot_be_sent_keeps_nothing(client, user):
    sign_in(client)
    response = client.post("/account/phones/", {"number": "+4791234567", "name": "New"})
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="add-phone-errors"' in body and SAFE_FAILURE in body
    assert 'value="+4791234567"' in body  # the input is kept for another try
    assert_no_leak(response)
    assert not SMSDevice.objects.filter(user=user).exists()


def test_resend_for_a_new_phone_shows_its_cooldown(client, user, sms_outbox):
    with freeze_time("2026-01-05 10:00:00") as clock:
        sign_in(client)
        client.post("/account/phones/", {"number": "+4791234567"})
        device = SMSDevice.objects.get(user=user)
        clock.tick(timedelta(seconds=5))
        page = client.get("/account/phones/").content.decode()
        assert f'id="resend-{device.pk}"' in page
        assert "You can ask for a new code in <span data-sms-seconds>25</span> seconds." in page
        again = client.post(f"/account/phones/{device.pk}/send/", follow=True)
        assert messages_of(again) == ["A code was sent recently. You can ask for a new one in 25 seconds."]
        assert len(sms_outbox) == 1
        clock.tick(timedelta(seconds=24))
        one_left = client.get("/account/phones/").content.decode()
        assert "You can ask for a new code in <span data-sms-seconds>1</span> second." in one_left


# -- pages in general ------------------------------------------------------


def test_every_form_posts_with_a_csrf_token(client, user, phone, sms_outbox, no_throttle):
    pages = [client.get("/accounts/login/")]
    sign_in(client)
    pages.append(client.get("/sms/verify/?next=/"))
    send_code(client, phone)
    enter_code(client, phone, last_code())
    client.post("/account/phones/", {"number": "+4791234567"})
    pages += [client.get("/"), client.get("/account/phones/")]
    for page in pages:
        body = page.content.decode()
        forms = re.findall(r"<form\b[^>]*>.*?</form>", body, re.S)
        assert forms
        for form in forms:
            assert 'method="post"' in form and 'name="csrfmiddlewaretoken"' in form

    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status_code == 403


def test_every_input_has_a_label(client, user, sms_outbox, no_throttle):
    sign_in(client)
    client.post("/account/phones/", {"number": "+4791234567"})
    for url in ("/accounts/login/", "/account/phones/"):
        body = Client().get(url).content.decode() if url.endswith("login/") else client.get(url).content.decode()
        visible = re.findall(r'<input(?![^>]*type="(?:hidden|radio)")[^>]*\bid="([^"]+)"', body)
        assert visible
        for input_id in visible:
            assert f'<label for="{input_id}">' in body, input_id


# -- the demo command and its settings -------------------------------------


def test_demo_setup_creates_the_user_with_a_confirmed_phone():
    login = ensure_demo_user()
    user = get_user_model().objects.get(username=DEMO_USERNAME)
    assert login.username == DEMO_USERNAME and login.password == DEMO_PASSWORD
    assert user.check_password(DEMO_PASSWORD) and user.is_active
    device = SMSDevice.objects.get(user=user)
    assert device.number == DEMO_NUMBER and device.confirmed and device == login.device


def test_demo_setup_repairs_an_existing_user_and_phone():
    first = ensure_demo_user()
    user = get_user_model().objects.get(username=DEMO_USERNAME)
    user.set_password("changed")
    user.is_active = False
    user.save()
    SMSDevice.objects.filter(pk=first.device.pk).update(
        confirmed=False, throttling_failure_count=7, token="x" * 64, last_generated_timestamp="2026-01-01T00:00Z"
    )
    again = ensure_demo_user()
    user.refresh_from_db()
    device = SMSDevice.objects.get(user=user)  # still one phone
    assert device.pk == first.device.pk == again.device.pk
    assert user.is_active and user.check_password(DEMO_PASSWORD)
    assert device.confirmed and device.throttling_failure_count == 0 and device.token is None
    assert device.generate_is_allowed()[0]


def test_demo_setup_refuses_a_bad_number():
    with pytest.raises(ValidationError):
        ensure_demo_user(number="+47 22 22 22 22")
    assert not get_user_model().objects.filter(username=DEMO_USERNAME).exists()


def test_demo_command_setup_only_prepares_the_login(capsys):
    call_command("demo", "--setup-only")
    assert "Demo user 'demo' is ready, with phone +47******32." in capsys.readouterr().out
    with pytest.raises(CommandError, match="--number '12345'"):
        call_command("demo", "--setup-only", "--number", "12345")


def test_demo_login_works_on_the_site(client, sms_outbox, no_throttle):
    login = ensure_demo_user()
    response = client.post("/accounts/login/", {"username": login.username, "password": login.password})
    assert response["Location"] == "/sms/verify/?next=%2F"
    send_code(client, login.device)
    assert enter_code(client, login.device, last_code())["Location"] == "/"


@pytest.mark.parametrize("mode", ["console", "sandbox"])
def test_demo_banner_says_where_to_sign_in_and_where_the_code_appears(mode):
    login = ensure_demo_user()
    with override_settings(DEMO_SMS=mode, DEMO_SANDBOX_URL="http://127.0.0.1:8025"):
        text = DemoCommand().banner(login, "127.0.0.1:8000")
    assert "http://127.0.0.1:8000/accounts/login/" in text
    assert f"Username:  {DEMO_USERNAME}" in text and f"Password:  {DEMO_PASSWORD}" in text
    if mode == "sandbox":
        assert "http://127.0.0.1:8025/" in text and "Switch off" in text
    else:
        assert "printed in this terminal" in text


def test_demo_command_says_clearly_when_the_sandbox_port_is_taken():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with (
            override_settings(DEMO_SANDBOX_PORT=port, DEMO_SANDBOX_URL=f"http://127.0.0.1:{port}"),
            pytest.raises(CommandError, match=f"Port {port} on 127.0.0.1 is taken"),
        ):
            DemoCommand().start_sandbox()


def test_demo_command_reuses_a_sandbox_already_running():
    sandbox_module = pytest.importorskip("sms_sandbox")
    with (
        sandbox_module.Sandbox(port=0) as running,
        override_settings(DEMO_SANDBOX_PORT=running.port, DEMO_SANDBOX_URL=running.url),
    ):
        assert DemoCommand().start_sandbox() is None


def test_demo_command_starts_and_stops_the_sandbox():
    pytest.importorskip("sms_sandbox")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with override_settings(DEMO_SANDBOX_PORT=port, DEMO_SANDBOX_URL=f"http://127.0.0.1:{port}"):
        sandbox = DemoCommand().start_sandbox()
        try:
            assert sandbox is not None and sandbox.port == port
        finally:
            sandbox.stop()


def test_demo_sms_mode_is_chosen_from_the_environment_value(monkeypatch):
    assert demo_sms.choose_mode("console") == "console"
    assert demo_sms.choose_mode(" Console ") == "console"
    monkeypatch.setattr(demo_sms, "sandbox_available", lambda: False)
    assert demo_sms.choose_mode(None) == "console"
    assert demo_sms.choose_mode("") == "console"
    with pytest.raises(ImproperlyConfigured, match="DEMO_SMS=sandbox needs"):
        demo_sms.choose_mode("sandbox")
    with pytest.raises(ImproperlyConfigured, match="choose one of console, sandbox"):
        demo_sms.choose_mode("twilio")
    monkeypatch.setattr(demo_sms, "sandbox_available", lambda: True)
    assert demo_sms.choose_mode(None) == "sandbox"
    assert demo_sms.choose_mode("sandbox") == "sandbox"


def test_demo_sms_gateways_for_each_mode():
    assert demo_sms.sms_gateways("console", "http://127.0.0.1:8025") == {"console": demo_sms.CONSOLE_GATEWAY}
    sandbox_module = pytest.importorskip("sms_sandbox")
    gateways = demo_sms.sms_gateways("sandbox", "http://127.0.0.1:8025")
    assert list(gateways) == ["signicat", "zignsec", "twilio", "console"]
    assert "webhook_url" not in gateways["zignsec"]["OPTIONS"]  # no site URL: no receipts
    with_receipts = demo_sms.sms_gateways("sandbox", "http://127.0.0.1:8025", "http://127.0.0.1:8000")
    assert with_receipts["zignsec"]["OPTIONS"]["webhook_url"] == "http://127.0.0.1:8000/sms/webhooks/zignsec/zignsec/"
    assert with_receipts["twilio"]["OPTIONS"]["status_callback"] == "http://127.0.0.1:8000/sms/webhooks/twilio/twilio/"
    signicat, zignsec = gateways["signicat"]["OPTIONS"], gateways["zignsec"]["OPTIONS"]
    assert signicat["base_url"] == "http://127.0.0.1:8025/signicat"
    assert zignsec["base_url"] == "http://127.0.0.1:8025/zignsec"
    assert signicat["client_id"] == sandbox_module.CREDENTIALS["signicat"]["client_id"]
    assert signicat["client_secret"] == sandbox_module.CREDENTIALS["signicat"]["client_secret"]
    assert zignsec["api_key"] == sandbox_module.CREDENTIALS["zignsec"]["api_key"]


def test_demo_sandbox_gateways_deliver_through_signicat_then_fall_back_to_zignsec(client, sms_outbox, no_throttle):
    pytest.importorskip("django_sms_gateway.backends.signicat", reason="needs the Signicat backend")
    pytest.importorskip("django_sms_gateway.backends.zignsec", reason="needs the ZignSec backend")
    sandbox_module = pytest.importorskip("sms_sandbox")
    login = ensure_demo_user()
    with sandbox_module.Sandbox(port=0) as sandbox, override_settings(
        SMS_GATEWAYS=demo_sms.sms_gateways("sandbox", sandbox.url)
    ):
        client.post("/accounts/login/", {"username": login.username, "password": login.password})
        send_code(client, login.device)
        sandbox.set_fault("signicat", "500")
        # As if the cooldown had passed (freezing the clock would upset the HTTP client's timeouts).
        SMSDevice.objects.filter(pk=login.device.pk).update(
            last_generated_timestamp=F("last_generated_timestamp") - timedelta(minutes=5)
        )
        send_code(client, login.device)
        assert [(m["vendor"], m["recipient"]) for m in sandbox.messages] == [
            ("signicat", DEMO_NUMBER),
            ("zignsec", DEMO_NUMBER),
        ]
        code = re.search(r"\d{6}", sandbox.messages[-1]["text"]).group(0)
        assert enter_code(client, login.device, code)["Location"] == "/"


def test_demo_fails_over_from_a_silent_vendor(transactional_db, live_server, no_throttle):
    """The walkthrough the banner gives: Signicat off, ZignSec silent; after the
    deadline the demo's sweep sends the challenge through Twilio, whose code works."""
    pytest.importorskip("django_sms_gateway.backends.zignsec", reason="needs the ZignSec backend")
    sandbox_module = pytest.importorskip("sms_sandbox")
    import time

    from django_sms_gateway.failover import sweep

    login = ensure_demo_user()
    client = Client()
    with sandbox_module.Sandbox(port=0) as sandbox, override_settings(
        SMS_GATEWAYS=demo_sms.sms_gateways("sandbox", sandbox.url, live_server.url), OTP_SMS_DELIVERY_DEADLINE=0.05
    ):
        sandbox.set_fault("signicat", "500")
        sandbox.set_fault("zignsec", "silent")
        client.post("/accounts/login/", {"username": login.username, "password": login.password})
        send_code(client, login.device)
        assert sandbox.messages == []
        time.sleep(0.1)
        assert sweep() == 1
        [message] = sandbox.messages
        assert message["vendor"] == "twilio"
        code = re.search(r"\d{6}", message["text"]).group(0)
        assert enter_code(client, login.device, code)["Location"] == "/"
