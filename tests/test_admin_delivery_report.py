"""Admin delivery report: per gateway and country, the delivery rate of the
final reports and the median time from send to the delivered receipt, over a
bounded window, in at most two queries; and the pairs delivery health skips now."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_sms_gateway.admin import DeliveryRate, delivery_rates
from django_sms_gateway.models import DeliveryRecord

from .test_delivery_health import report

pytestmark = pytest.mark.django_db

Delivery = DeliveryRecord.Delivery
SECOND = timedelta(seconds=1)


@pytest.fixture(autouse=True)
def _admin_urls(settings):
    settings.ROOT_URLCONF = "tests.admin_urls"


def record(gateway, region, delivery, *, took=None, age=timedelta(hours=1)):
    """One record sent ``age`` ago; a delivered one got its receipt ``took`` seconds after the send."""
    sent = timezone.now() - age
    DeliveryRecord.objects.create(
        gateway=gateway, region=region, outcome="sent" if delivery else "failed", delivery=delivery,
        created_at=sent, delivered_at=None if took is None else sent + took * SECOND, number_masked="+47******32",
    )


@pytest.fixture
def history():
    for took in (6, 2, 100, 4):  # median 5 s (the middle two averaged)
        record("signicat", "NO", Delivery.DELIVERED, took=took)
    record("signicat", "NO", Delivery.FAILED)
    record("signicat", "NO", Delivery.MISSING)
    record("signicat", "NO", Delivery.ACCEPTED)  # no final report yet: not in the rate
    for took in (12, 3, 9):  # median 9 s
        record("signicat", "SE", Delivery.DELIVERED, took=took)
    record("twilio", "NO", Delivery.FAILED)
    record("twilio", "NO", Delivery.MISSING)
    record("twilio", "NO", "")  # not sent
    record("signicat", "NO", Delivery.DELIVERED, took=1, age=timedelta(days=8))  # before the window


def test_rates_and_medians_per_gateway_and_country_in_two_queries_at_most(history):
    with CaptureQueriesContext(connection) as queries:
        rates = delivery_rates()
    assert len(queries) <= 2
    assert rates == [
        DeliveryRate("signicat", "NO", delivered=4, failed=1, missing=1, pending=1, median=5 * SECOND),
        DeliveryRate("signicat", "SE", delivered=3, median=9 * SECOND),
        DeliveryRate("twilio", "NO", failed=1, missing=1),
    ]
    assert rates[0].rate == pytest.approx(400 / 6) and rates[1].rate == 100.0 and rates[2].rate == 0.0


def test_a_longer_window_takes_in_older_records(history):
    signicat_no = delivery_rates(days=30)[0]
    assert (signicat_no.delivered, signicat_no.median) == (5, 4 * SECOND)  # 1, 2, 4, 6, 100


def test_the_report_page_shows_rate_median_and_the_tripped_pairs(admin_client, settings, history):
    settings.SMS_GATEWAYS = {"twilio": {"BACKEND": "tests.fakes.RecordingBackend"},
                             "signicat": {"BACKEND": "django_sms_gateway.backends.locmem.LocmemBackend"}}
    report("twilio", "NO", delivered=False, times=10)

    changelist = admin_client.get(reverse("admin:django_sms_gateway_deliveryrecord_changelist")).content.decode()
    url = reverse("admin:django_sms_gateway_deliveryrecord_report")
    assert f'href="{url}"' in changelist

    response = admin_client.get(url)
    body = response.content.decode()
    assert response.status_code == 200
    rows = re.findall(r"<tr>\s*<th scope=\"row\">(\w+)</th>\s*<td>(\w+)</td>\s*<td class=\"rate\">([^<]*)</td>"
                      r".*?<td class=\"median\">([^<]*)</td>", body, re.S)
    assert rows == [
        ("signicat", "NO", "66.7&nbsp;%", "5.0&nbsp;s"),
        ("signicat", "SE", "100.0&nbsp;%", "9.0&nbsp;s"),
        ("twilio", "NO", "0.0&nbsp;%", "–"),
    ]
    tripped = re.search(r'<tr class="tripped">(.*?)</tr>', body, re.S).group(1)
    assert "twilio" in tripped and "NO" in tripped and "skipped until" in tripped
    assert "Messages sent in the last 7 days." in body


def test_the_report_page_needs_view_permission(client, django_user_model):
    staff = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get(reverse("admin:django_sms_gateway_deliveryrecord_report")).status_code == 403


def test_an_unknown_window_falls_back_to_a_week(admin_client, history):
    body = admin_client.get(reverse("admin:django_sms_gateway_deliveryrecord_report") + "?days=9999").content
    assert b"Messages sent in the last 7 days." in body
    body = admin_client.get(reverse("admin:django_sms_gateway_deliveryrecord_report") + "?days=30").content
    assert b"Messages sent in the last 30 days." in body
