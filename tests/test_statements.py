"""The login step's hand-composed SQL behaves like the ORM calls it replaced."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_sms_gateway.exceptions import Attempt
from django_sms_gateway.models import DeliveryRecord, SMSDevice
from django_sms_gateway.statements import claim_challenge, insert_rows

pytestmark = pytest.mark.django_db


def _claim(device, now, cooldown):
    return claim_challenge(SMSDevice, device.pk, now=now, cooldown=cooldown, token="h" * 64,
                           valid_until=now + timedelta(seconds=300))


def test_claim_stores_hash_expiry_and_timestamp(device):
    now = timezone.now()
    assert _claim(device, now, cooldown=None) is True
    device.refresh_from_db()
    assert (device.token, device.vendor_gateway) == ("h" * 64, "")
    assert device.last_generated_timestamp == now
    assert device.valid_until == now + timedelta(seconds=300)


def test_claim_respects_the_cooldown(device):
    now = timezone.now()
    assert _claim(device, now, cooldown=60) is True
    assert _claim(device, now + timedelta(seconds=59), cooldown=60) is False
    device.refresh_from_db()
    assert device.last_generated_timestamp == now
    assert _claim(device, now + timedelta(seconds=60), cooldown=60) is True


def test_claim_without_cooldown_always_claims(device):
    now = timezone.now()
    assert _claim(device, now, cooldown=None) and _claim(device, now, cooldown=None)


def test_claim_of_a_missing_device_claims_nothing(device):
    pk = device.pk
    device.delete()
    assert claim_challenge(SMSDevice, pk, now=timezone.now(), cooldown=None, token="x",
                           valid_until=timezone.now()) is False


def test_records_of_one_walk_are_one_statement(device):
    attempts = (
        Attempt("signicat", "failed", "HTTP 500", 0.0123),
        Attempt("zignsec", "sent", "accepted", 0.004, reference="session-1"),
    )

    class Result:
        status, segments, charge = "queued", 2, 7

    with CaptureQueriesContext(connection) as ctx:
        assert DeliveryRecord.record(device, attempts, Result()) == 2
    assert len(ctx.captured_queries) == 1
    failed, sent = DeliveryRecord.objects.order_by("id")
    assert (failed.gateway, failed.outcome, failed.reason, failed.elapsed_ms) == ("signicat", "failed", "HTTP 500", 12)
    assert (failed.status, failed.segments, failed.charge) == ("", None, None)
    assert (sent.gateway, sent.reference, sent.status, sent.segments, sent.charge) == (
        "zignsec", "session-1", "queued", 2, 7)
    assert sent.device == device and sent.number_masked == device.masked_number
    assert sent.created_at == sent.updated_at


def test_insert_nothing_is_no_statement():
    with CaptureQueriesContext(connection) as ctx:
        assert insert_rows(DeliveryRecord, []) == 0
    assert ctx.captured_queries == []


def test_a_failed_statement_marks_the_atomic_block_for_rollback(device):
    """As the ORM's save(), bulk_create() and update() do: a caller that
    catches the error inside atomic() must not go on to commit."""
    row = {
        "created_at": timezone.now(), "updated_at": timezone.now(), "device_id": device.pk, "gateway": "g",
        "reference": "", "outcome": "sent", "status": "", "reason": "", "segments": -1, "charge": None,
        "elapsed_ms": 0, "number_masked": "",
    }
    with transaction.atomic():
        with pytest.raises(IntegrityError):  # segments is a PositiveSmallIntegerField: CHECK (segments >= 0)
            insert_rows(DeliveryRecord, [row])
        assert transaction.get_rollback() is True


class RecordingRouter:
    """Routes nothing; notes the instance hint of each write."""

    hints: list = []

    def db_for_write(self, model, **hints):
        RecordingRouter.hints.append((model.__name__, hints.get("instance")))
        return None


def test_both_writes_pass_the_device_as_routing_hint(device, settings, sms_outbox):
    RecordingRouter.hints = []
    settings.DATABASE_ROUTERS = [f"{__name__}.RecordingRouter"]
    device.generate_challenge()
    assert ("SMSDevice", device) in RecordingRouter.hints
    assert ("DeliveryRecord", device) in RecordingRouter.hints


def test_vendor_counts_beyond_a_column_are_kept_within_it(device):
    class Result:
        status, segments, charge = "OK", 10**6, 10**12

    DeliveryRecord.record(device, (Attempt("accuauth", "sent", "accepted", 0.01),), Result())
    row = DeliveryRecord.objects.get()
    assert (row.segments, row.charge) == (32767, 2**31 - 1)
