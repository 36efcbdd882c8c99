"""No code that reached the user is lost to a database fault, and no vendor
call holds the caller's row lock.

Outside a transaction the claim commits before the vendor is called and the
records after it (on a new connection if the old one died meanwhile).
Inside the caller's transaction (django-otp's ``OTPTokenForm`` opens one and
locks the device row) the vendor is called once it commits. The PostgreSQL
tests kill the connection or let the server time the transaction out while
the vendor is slow to answer; the others run on any database.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, ClassVar

import pytest
from django.db import connection, connections, transaction
from django.test import override_settings
from django_otp.forms import OTPTokenForm

from django_sms_gateway import models
from django_sms_gateway.backends.base import BaseBackend, Option, SendResult
from django_sms_gateway.models import DeliveryRecord, ScheduledDelivery, SMSDevice
from django_sms_gateway.testing import last_code

from .vendors.helpers import LOCMEM_ENTRY, signicat_entry

POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
needs_postgres = pytest.mark.skipif(
    not POSTGRES, reason="needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres"
)

pytestmark = pytest.mark.django_db(transaction=True)


class SlowVendor(BaseBackend):
    """A vendor that accepts after ``while_answering`` ran (what happens to
    the database while it is slow to answer); keeps the codes it got."""

    options: ClassVar[dict[str, Any]] = {"sender": Option(None)}
    while_answering: ClassVar[Any] = None
    codes: ClassVar[list[str]] = []

    def send(self, message, *, timeout):
        if SlowVendor.while_answering is not None:
            SlowVendor.while_answering()
        SlowVendor.codes.append(message.code)
        return SendResult(reference="slow-1")


SLOW = {"slow": {"BACKEND": "tests.test_durability.SlowVendor"}}


@pytest.fixture(autouse=True)
def _slow_vendor():
    SlowVendor.while_answering, SlowVendor.codes = None, []
    models._warned_about_transactions.clear()
    yield
    SlowVendor.while_answering, SlowVendor.codes = None, []


def otp_form_challenge(device: SMSDevice) -> OTPTokenForm:
    """What django-otp's form does for "send code": in atomic(), the device
    loaded select_for_update, then generate_challenge()."""
    form = OTPTokenForm(device.user, data={"otp_device": device.persistent_id, "otp_challenge": "1"})
    assert not form.is_valid()
    return form


def stored_token(device: SMSDevice) -> str | None:
    return SMSDevice.objects.values_list("token", flat=True).get(pk=device.pk)


# -- any database -------------------------------------------------------------------------


def test_outside_a_transaction_the_claim_is_committed_before_the_vendor_is_called(phone, sms_outbox):
    seen = {}

    def look():
        seen["in_transaction"] = connection.in_atomic_block
        seen["token"] = stored_token(phone)

    SlowVendor.while_answering = look
    with override_settings(SMS_GATEWAYS=SLOW):
        phone.generate_challenge()
    assert seen == {"in_transaction": False, "token": phone.token} and phone.token
    assert phone.verify_token(SlowVendor.codes[0]) is True


def test_inside_a_transaction_the_vendor_is_called_once_it_commits(phone, sms_outbox, caplog):
    with override_settings(SMS_GATEWAYS={"locmem": LOCMEM_ENTRY}), caplog.at_level(logging.WARNING):
        for _ in range(2):
            with transaction.atomic():
                assert isinstance(phone.send_code(), ScheduledDelivery)
                assert sms_outbox == []  # nothing sent while the transaction is open
            assert len(sms_outbox) == 1
            assert phone.verify_token(last_code()) is True
            sms_outbox.clear()
    warnings = [r.getMessage() for r in caplog.records if "inside a database transaction" in r.getMessage()]
    assert len(warnings) == 1 and "SMSVerifyView" in warnings[0]  # once per process
    assert DeliveryRecord.objects.filter(outcome="sent").count() == 2


def test_a_rolled_back_transaction_sends_nothing_and_keeps_nothing(phone, sms_outbox):
    class Abandoned(Exception):
        pass

    with override_settings(SMS_GATEWAYS={"locmem": LOCMEM_ENTRY}, OTP_SMS_COOLDOWN_DURATION=60):
        with pytest.raises(Abandoned), transaction.atomic():
            assert phone.generate_challenge() == "A code will be sent by text message to +47******32."
            raise Abandoned
        assert sms_outbox == [] and stored_token(phone) is None
        phone.refresh_from_db()
        phone.generate_challenge()  # the rolled-back claim took no cooldown
    assert len(sms_outbox) == 1


def test_django_otp_form_gets_the_code_sent_after_its_transaction(phone, sms_outbox):
    with override_settings(SMS_GATEWAYS={"locmem": LOCMEM_ENTRY}):
        form = otp_form_challenge(phone)
    assert "A code will be sent by text message to +47******32." in str(form.errors) and len(sms_outbox) == 1
    form = OTPTokenForm(phone.user, data={"otp_device": phone.persistent_id, "otp_token": last_code()})
    assert form.is_valid(), form.errors


def test_a_failure_after_the_commit_is_recorded_and_gives_the_slot_back(phone, sms_outbox, caplog):
    failing = {"down": {"BACKEND": "tests.fakes.FailingBackend",
                        "OPTIONS": {"error": "GatewayConnectionError", "not_sent": True}}}
    with override_settings(SMS_GATEWAYS=failing, OTP_SMS_COOLDOWN_DURATION=60):
        otp_form_challenge(phone)  # no exception escapes the commit
        assert stored_token(phone) is None
        assert list(DeliveryRecord.objects.values_list("gateway", "outcome")) == [("down", "failed")]
    with override_settings(SMS_GATEWAYS={"locmem": LOCMEM_ENTRY}, OTP_SMS_COOLDOWN_DURATION=60):
        otp_form_challenge(phone)  # not held back by a cooldown for a code nobody got
    assert len(sms_outbox) == 1
    assert "not delivered" in caplog.text and "98765432" not in caplog.text


def test_a_test_case_transaction_stands_for_autocommit(phone, sms_outbox, django_db_blocker):
    """In a TestCase the test's own transaction never commits: codes are
    sent at once there, as outside any transaction."""
    atomic = transaction.atomic()
    atomic.__enter__()
    atomic._from_testcase = True  # as django.test.TestCase marks its own
    try:
        with override_settings(SMS_GATEWAYS={"locmem": LOCMEM_ENTRY}):
            assert not isinstance(phone.send_code(), ScheduledDelivery)
        assert len(sms_outbox) == 1
    finally:
        transaction.set_rollback(True)
        atomic.__exit__(None, None, None)


# -- PostgreSQL: the database fails while the vendor answers -------------------------------


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def terminate(pid: int) -> None:
    """End ``pid``'s session from another connection, as an operator or a failover would."""

    def run() -> None:
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=10)


@needs_postgres
@pytest.mark.postgres
@pytest.mark.parametrize("caller", ["sms step", "django-otp form"])
def test_a_connection_terminated_during_a_slow_answer_loses_no_code(phone, sms_outbox, caller):
    pid = backend_pid()
    SlowVendor.while_answering = lambda: terminate(pid)
    with override_settings(SMS_GATEWAYS=SLOW):
        if caller == "sms step":
            phone.generate_challenge()
        else:
            otp_form_challenge(phone)
    assert backend_pid() != pid  # the code was written on a new connection
    assert list(DeliveryRecord.objects.values_list("gateway", "outcome")) == [("slow", "sent")]
    assert SMSDevice.objects.get(pk=phone.pk).verify_token(SlowVendor.codes[0]) is True


@needs_postgres
@pytest.mark.postgres
def test_an_idle_transaction_timeout_during_a_slow_answer_loses_no_code(phone, sandbox, sms_outbox):
    """The server ends a session idle in a transaction for 200 ms; Signicat
    takes a second to answer. django-otp's form left its transaction open for
    that second before; now the vendor is called after it committed."""
    with connection.cursor() as cursor:
        cursor.execute("SET idle_in_transaction_session_timeout = '200ms'")
    sandbox.set_latency(1.0)
    with override_settings(SMS_GATEWAYS={"signicat": signicat_entry(sandbox, TIMEOUT=5)}):
        otp_form_challenge(phone)
    code = next(w.strip(".") for w in sandbox.messages[-1]["text"].split() if w.strip(".").isdigit())
    assert SMSDevice.objects.get(pk=phone.pk).verify_token(code) is True
    assert list(DeliveryRecord.objects.values_list("gateway", "outcome")) == [("signicat", "sent")]


@needs_postgres
@pytest.mark.postgres
def test_a_second_tab_is_not_blocked_while_the_vendor_is_called(phone, sms_outbox):
    """Tab one asks for a code through django-otp's form (which locks the
    device row); while the vendor answers, tab two locks the same row with a
    1 s lock timeout, as its own form would."""
    second_tab: dict[str, Any] = {}

    def second_tab_locks_the_row() -> None:
        def run() -> None:
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '1s'")
                    SMSDevice.objects.select_for_update().get(pk=phone.pk)
                second_tab["locked"] = True
            except Exception as exc:  # reported below
                second_tab["error"] = repr(exc)
            finally:
                connections.close_all()

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(timeout=10)

    SlowVendor.while_answering = second_tab_locks_the_row
    with override_settings(SMS_GATEWAYS=SLOW):
        otp_form_challenge(phone)
    assert second_tab == {"locked": True}
    assert SMSDevice.objects.get(pk=phone.pk).verify_token(SlowVendor.codes[0]) is True
