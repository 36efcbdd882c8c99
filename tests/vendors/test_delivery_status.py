"""DeliveryRecord.objects.for_reference(...).update_status(...): the one
place a vendor's status report is written."""

import pytest

from django_sms_gateway.models import SEGMENTS_MAX, DeliveryRecord

pytestmark = pytest.mark.django_db


def make(**fields):
    return DeliveryRecord.objects.create(**{"gateway": "zs", "reference": "s-1", "outcome": "sent",
                                            "status": "pending", **fields})


def test_only_sent_records_of_that_gateway_and_reference_are_updated():
    mine = make()
    others = [make(gateway="other"), make(reference="s-2"), make(outcome="failed")]
    assert DeliveryRecord.objects.for_reference("zs", "s-1").update_status("delivered", segments=2) == 1
    mine.refresh_from_db()
    assert (mine.status, mine.segments) == ("delivered", 2)
    assert {r.status for r in DeliveryRecord.objects.filter(pk__in=[o.pk for o in others])} == {"pending"}


def test_a_final_status_is_kept_against_a_late_report_whatever_its_case():
    record = make(status="Delivered")
    rows = DeliveryRecord.objects.for_reference("zs", "s-1")
    assert rows.update_status("pending", final_statuses=["DELIVERED"]) == 0
    assert rows.update_status("failed", final_statuses=["delivered", "failed"]) == 1  # final over final
    record.refresh_from_db()
    assert record.status == "failed"


def test_status_is_kept_raw_but_cut_to_the_column_and_segments_clamped():
    record = make()
    DeliveryRecord.objects.for_reference("zs", "s-1").update_status("x" * 40, segments=10**9)
    record.refresh_from_db()
    assert record.status == "x" * 32 and record.segments == SEGMENTS_MAX
