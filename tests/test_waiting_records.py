"""Delivery records waiting in Redis (``OTP_SMS_DELIVERY_RECORD_CACHE``): a
send leaves its rows in a Redis list instead of writing them; they reach the
database in batches and before every read, once each, whatever dies when."""

from __future__ import annotations

import json
import logging
import os

import pytest
from django.core.cache import caches
from django.db import transaction
from django.test import override_settings

from django_sms_gateway.models import DeliveryRecord, SMSDevice, WaitingRecords
from django_sms_gateway.signals import LogThrottle

REDIS_URL = os.environ.get("REDIS_URL")

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(not REDIS_URL, reason="set REDIS_URL=redis://127.0.0.1:6379/0 to run"),
    pytest.mark.django_db(transaction=True),
]

WAITING = {"OTP_SMS_DELIVERY_RECORD_CACHE": "default"}


@pytest.fixture(autouse=True)
def _empty_list():
    with override_settings(**WAITING):
        client, key = WaitingRecords._redis()
    client.delete(key)
    yield client, key
    client.delete(key)


@pytest.fixture
def waiting(_empty_list):
    client, key = _empty_list
    return lambda: client.llen(key)


def lrange():
    client, key = WaitingRecords._redis()
    return client.lrange(key, 0, -1)


def written():
    """Rows in the database, read without writing the waiting ones first."""
    return list(DeliveryRecord._base_manager.order_by("id"))


def send(device):
    with override_settings(**WAITING):
        device.generate_challenge()


def test_a_send_leaves_its_row_waiting_and_a_read_writes_it(phone, sms_outbox, waiting):
    send(phone)
    assert written() == [] and waiting() == 1
    with override_settings(**WAITING):
        rows = list(DeliveryRecord.objects.filter(device=phone))
    assert waiting() == 0
    assert len(rows) == 1 and written()[0].pk == rows[0].pk
    row = rows[0]
    assert (row.gateway, row.outcome, row.delivery) == ("locmem", "sent", "accepted")
    assert row.challenge == SMSDevice.objects.get(pk=phone.pk).challenge
    assert row.number_masked == phone.masked_number and row.waiting_key


def test_the_send_that_finds_a_batch_waiting_writes_it(phone, sms_outbox, waiting, monkeypatch):
    monkeypatch.setattr(WaitingRecords, "batch", 3)
    send(phone)
    send(phone)
    assert written() == [] and waiting() == 2
    send(phone)
    assert len(written()) == 3 and waiting() == 0


def test_rows_written_again_after_a_crash_stay_one_row_each(phone, sms_outbox, waiting, monkeypatch):
    send(phone)
    send(phone)
    # The writer dies after its INSERT committed and before it took the entries off the list.
    monkeypatch.setattr(WaitingRecords, "_forget", staticmethod(lambda *args: None))
    with override_settings(**WAITING):
        assert WaitingRecords.write() == 2
    assert len(written()) == 2 and waiting() == 2
    monkeypatch.undo()
    with override_settings(**WAITING):
        assert DeliveryRecord.objects.count() == 2
    assert len(written()) == 2 and waiting() == 0


def test_a_read_in_a_transaction_that_rolls_back_leaves_them_waiting(phone, sms_outbox, waiting):
    send(phone)
    with override_settings(**WAITING), pytest.raises(RuntimeError), transaction.atomic():
        assert DeliveryRecord.objects.count() == 1
        raise RuntimeError("the caller's view failed")
    assert written() == [] and waiting() == 1
    with override_settings(**WAITING):
        assert DeliveryRecord.objects.count() == 1
    assert waiting() == 0


def test_a_receipt_finds_a_waiting_record(phone, sms_outbox):
    send(phone)
    with override_settings(**WAITING):
        (reference,) = {entry["reference"] for entry in map(json.loads, lrange())}
        rows = DeliveryRecord.objects.for_reference("locmem", reference)
        assert rows.update_status("DELIVRD") == 1
        assert rows.get().settle(DeliveryRecord.Delivery.DELIVERED)
    assert (written()[0].status, written()[0].delivery) == ("DELIVRD", "delivered")


def test_a_device_deleted_meanwhile_leaves_its_rows_without_a_device(phone, sms_outbox, waiting):
    send(phone)
    SMSDevice.objects.filter(pk=phone.pk).delete()
    with override_settings(**WAITING):
        rows = list(DeliveryRecord.objects.all())
    assert len(rows) == 1 and rows[0].device_id is None and rows[0].gateway == "locmem"


def test_when_redis_fails_the_send_writes_its_row_at_once(phone, sms_outbox, caplog, monkeypatch):
    monkeypatch.setattr(WaitingRecords, "_warnings", LogThrottle())
    broken = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0",
              "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}
    with override_settings(CACHES={**caches.settings, "broken": broken}, OTP_SMS_DELIVERY_RECORD_CACHE="broken"), \
            caplog.at_level(logging.WARNING, logger="django_sms_gateway"):
        phone.generate_challenge()
        assert DeliveryRecord.objects.count() == 1  # the read cannot reach Redis either: it reads what is written
    rows = written()
    assert len(rows) == 1 and rows[0].waiting_key is None and rows[0].outcome == "sent"
    messages = [r.getMessage() for r in caplog.records]
    assert any("writing them at once" in m and "ConnectionError" in m for m in messages)
    assert all(phone.number not in m for m in messages)


def test_off_by_default_the_send_writes_its_row(phone, sms_outbox, waiting):
    phone.generate_challenge()
    assert len(written()) == 1 and waiting() == 0


def test_a_read_in_a_transaction_writes_every_batch_once(phone, sms_outbox, waiting, monkeypatch):
    for _ in range(5):
        send(phone)
    monkeypatch.setattr(WaitingRecords, "batch", 2)
    with override_settings(**WAITING), transaction.atomic():
        assert DeliveryRecord.objects.count() == 5
        assert waiting() == 5  # taken off the list only when the transaction commits
    assert waiting() == 0 and len(written()) == 5


def test_a_row_deleted_in_the_transaction_that_wrote_it_stays_deleted(phone, sms_outbox, waiting):
    send(phone)
    with override_settings(**WAITING), transaction.atomic():
        DeliveryRecord.objects.all().delete()  # the read writes the waiting row, then it is deleted
        assert DeliveryRecord.objects.count() == 0  # the next read does not write it again
    assert written() == [] and waiting() == 0


def test_an_entry_no_database_can_take_is_set_aside(phone, sms_outbox, waiting, caplog):
    client, key = _empty_list_key()
    client.rpush(key, b"not json", b'{"database": "gone"}')
    send(phone)
    with override_settings(**WAITING), caplog.at_level(logging.ERROR, logger="django_sms_gateway"):
        assert DeliveryRecord.objects.count() == 1
    assert waiting() == 0 and client.lrange(f"{key}:unreadable", 0, -1) == [b"not json", b'{"database": "gone"}']
    assert "2 delivery record(s) waiting in OTP_SMS_DELIVERY_RECORD_CACHE could not be read" in caplog.text
    client.delete(f"{key}:unreadable")


def test_a_cache_that_is_not_redis_at_run_time_writes_at_once(phone, sms_outbox):
    local = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    with override_settings(CACHES={**caches.settings, "local": local}, OTP_SMS_DELIVERY_RECORD_CACHE="local"):
        phone.generate_challenge()
        assert DeliveryRecord.objects.count() == 1
    assert written()[0].waiting_key is None


def _empty_list_key():
    with override_settings(**WAITING):
        return WaitingRecords._redis()


def test_a_queryset_made_before_the_send_sees_its_row(phone, sms_outbox):
    with override_settings(**WAITING):
        sent = DeliveryRecord.objects.filter(device=phone, outcome="sent")
        phone.generate_challenge()
        assert sent.count() == 1 and sent.exists() and len(sent) == 1
