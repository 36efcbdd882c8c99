"""Admin: masked numbers in lists, no code hashes, throttle actions, read-only
delivery records with correct per-gateway rates."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_sms_gateway.admin import gateway_health
from django_sms_gateway.models import DeliveryRecord, SMSDevice

pytestmark = pytest.mark.django_db

FULL = "+4798765432"
MASKED = "+47******32"


@pytest.fixture(autouse=True)
def _admin_urls(settings):
    settings.ROOT_URLCONF = "tests.admin_urls"


@pytest.fixture
def locked_device(device):
    device.generate_challenge()
    assert device.verify_token("12345x") is False  # malformed: counted as a failure
    SMSDevice.objects.filter(pk=device.pk).update(throttling_failure_count=2)
    device.refresh_from_db()
    assert device.token and not device.verify_is_allowed()[0]
    return device


def test_device_list_shows_masked_number_and_throttle_state_never_the_hash(admin_client, locked_device):
    response = admin_client.get(reverse("admin:django_sms_gateway_smsdevice_changelist"))
    body = response.content.decode()
    assert response.status_code == 200
    assert MASKED in body and FULL not in body and locked_device.token not in body
    assert "alice" in body and "phone" in body
    assert 'class="field-failure_count">2<' in body
    locked = re.search(r'class="field-locked_until[^"]*">([^<]*)<', body).group(1)
    assert str(timezone.now().year) in locked  # a lock time is shown


def test_device_change_form_shows_full_number_but_no_hash(admin_client, locked_device):
    url = reverse("admin:django_sms_gateway_smsdevice_change", args=[locked_device.pk])
    body = admin_client.get(url).content.decode()
    assert f'value="{FULL}"' in body and locked_device.token not in body
    assert 'name="token"' not in body and 'name="vendor_gateway"' not in body


def test_device_number_is_validated_and_normalised_on_save(admin_client, device):
    url = reverse("admin:django_sms_gateway_smsdevice_change", args=[device.pk])
    data = {"user": device.user_id, "name": "phone", "number": "+47 900 00 000", "confirmed": "on"}
    response = admin_client.post(url, {**data, "number": "+47 800 12 345"})
    assert response.status_code == 200 and "Toll-free numbers cannot receive codes." in response.content.decode()
    response = admin_client.post(url, data, follow=True)
    assert "The phone number changed, so the device is unconfirmed" in response.content.decode()
    device.refresh_from_db()
    assert device.number == "+4790000000"
    assert device.confirmed is False  # a new number is a new binding, whatever the box said


def test_device_saved_with_its_number_unchanged_stays_confirmed(admin_client, device):
    SMSDevice.objects.filter(pk=device.pk).update(confirmed=True)
    url = reverse("admin:django_sms_gateway_smsdevice_change", args=[device.pk])
    data = {"user": device.user_id, "name": "renamed", "number": "+47 987 65 432", "confirmed": "on"}
    response = admin_client.post(url, data, follow=True)
    assert "The phone number changed" not in response.content.decode()
    device.refresh_from_db()
    assert device.confirmed is True and device.name == "renamed"


def test_require_new_binding_action(admin_client, locked_device):
    SMSDevice.objects.filter(pk=locked_device.pk).update(confirmed=True)
    url = reverse("admin:django_sms_gateway_smsdevice_changelist")
    response = admin_client.post(
        url, {"action": "require_new_binding", "_selected_action": [locked_device.pk]}, follow=True
    )
    assert "1 device must now be confirmed again." in response.content.decode()
    locked_device.refresh_from_db()
    assert (locked_device.confirmed, locked_device.token, locked_device.throttling_failure_count) == (False, None, 0)


def test_device_search_by_user_and_name(admin_client, device, django_user_model):
    other = django_user_model.objects.create_user("bob")
    SMSDevice.objects.create(user=other, name="work", number="+46701234567")
    url = reverse("admin:django_sms_gateway_smsdevice_changelist")
    assert "+46*******67" in admin_client.get(url, {"q": "bob"}).content.decode()
    body = admin_client.get(url, {"q": "phone"}).content.decode()
    assert MASKED in body and "+46*******67" not in body


def test_reset_throttling_action(admin_client, locked_device):
    url = reverse("admin:django_sms_gateway_smsdevice_changelist")
    response = admin_client.post(
        url, {"action": "reset_throttling", "_selected_action": [locked_device.pk]}, follow=True
    )
    assert "Throttling was reset for 1 device." in response.content.decode()
    locked_device.refresh_from_db()
    assert locked_device.throttling_failure_count == 0 and locked_device.throttling_failure_timestamp is None
    assert locked_device.verify_is_allowed()[0]


def test_reset_cooldown_action(admin_client, device, settings):
    settings.OTP_SMS_COOLDOWN_DURATION = 60
    device.generate_challenge()
    device.refresh_from_db()
    assert not device.generate_is_allowed()[0]
    url = reverse("admin:django_sms_gateway_smsdevice_changelist")
    response = admin_client.post(url, {"action": "reset_cooldown", "_selected_action": [device.pk]}, follow=True)
    assert "The cooldown was reset for 1 device." in response.content.decode()
    device.refresh_from_db()
    assert device.last_generated_timestamp is None and device.generate_is_allowed()[0]


def record(gateway, outcome, age, reason=""):
    row = DeliveryRecord.objects.create(gateway=gateway, outcome=outcome, reason=reason, number_masked=MASKED)
    DeliveryRecord.objects.filter(pk=row.pk).update(created_at=timezone.now() - age)


@pytest.fixture
def history():
    hour, days = timedelta(hours=1), timedelta(days=3)
    record("signicat", "sent", hour)
    record("signicat", "failed", 2 * hour, "HTTP 503")
    record("signicat", "sent", days)
    record("signicat", "failed", days, "timed out")
    record("signicat", "failed", timedelta(days=30), "very old")
    record("zignsec", "sent", hour)
    record("zignsec", "skipped", hour, "does not serve SE")
    record("ip1", "failed", timedelta(days=10), f"refused {FULL[:0]}")


def test_gateway_health_numbers(history):
    with CaptureQueriesContext(connection) as queries:
        rows = {row.gateway: row for row in gateway_health()}
    assert len(queries) == 2
    signicat = rows["signicat"]
    assert (signicat.sent_day, signicat.failed_day, signicat.sent_week, signicat.failed_week) == (1, 1, 2, 2)
    assert signicat.rate_day == 50.0 and signicat.rate_week == 50.0
    assert signicat.last_failure_reason == "HTTP 503"
    assert timezone.now() - signicat.last_failure_at < timedelta(hours=3)
    zignsec = rows["zignsec"]
    assert zignsec.rate_day == 100.0 and zignsec.last_failure_at is None  # skips are not failures
    ip1 = rows["ip1"]
    assert ip1.rate_week is None and ip1.last_failure_reason.startswith("refused")


def test_delivery_changelist_shows_summary_and_masked_numbers(admin_client, history):
    response = admin_client.get(reverse("admin:django_sms_gateway_deliveryrecord_changelist"))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="sms-gateway-health"' in body
    assert "50.0&nbsp;% (1 of 2 sent)" in body and "50.0&nbsp;% (2 of 4 sent)" in body
    assert "HTTP 503" in body and MASKED in body and FULL not in body


def test_delivery_records_are_read_only_but_deletable(admin_client, history):
    row = DeliveryRecord.objects.first()
    assert admin_client.get(reverse("admin:django_sms_gateway_deliveryrecord_add")).status_code == 403
    change = reverse("admin:django_sms_gateway_deliveryrecord_change", args=[row.pk])
    assert admin_client.get(change).status_code == 200
    admin_client.post(change, {"gateway": "forged"})
    row.refresh_from_db()
    assert row.gateway != "forged"
    delete = reverse("admin:django_sms_gateway_deliveryrecord_delete", args=[row.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    assert not DeliveryRecord.objects.filter(pk=row.pk).exists()


def test_delivery_filters_render(admin_client, history):
    url = reverse("admin:django_sms_gateway_deliveryrecord_changelist")
    body = admin_client.get(url, {"gateway": "zignsec", "outcome": "skipped"}).content.decode()
    assert "does not serve SE" in body and "HTTP 503" not in body.split('id="result_list"')[1]


def test_a_device_past_the_most_failures_shows_it_needs_a_new_binding(admin_client, device, settings):
    from django_sms_gateway.admin import SMSDeviceAdmin

    settings.OTP_SMS_MAX_FAILURES = 5
    model_admin = SMSDeviceAdmin(SMSDevice, None)
    assert model_admin.needs_new_binding(device) is False
    SMSDevice.objects.filter(pk=device.pk).update(throttling_failure_count=5)
    device.refresh_from_db()
    assert model_admin.needs_new_binding(device) is True
    url = reverse("admin:django_sms_gateway_smsdevice_changelist")
    response = admin_client.post(url, {"action": "reset_throttling", "_selected_action": [device.pk]}, follow=True)
    device.refresh_from_db()
    assert response.status_code == 200 and model_admin.needs_new_binding(device) is False
