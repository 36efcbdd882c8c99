"""DeliveryRecord.objects.for_reference(...).update_status(...): the one
place a vendor's status report is written."""

import os
import threading

import pytest
from django.db import connections

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


def test_a_final_status_is_kept_against_any_later_report_whatever_its_case():
    record = make(status="Delivered", segments=1)
    rows = DeliveryRecord.objects.for_reference("zs", "s-1")
    finals = ["delivered", "failed"]
    assert rows.update_status("pending", final_statuses=["DELIVERED"]) == 0
    assert rows.update_status("failed", segments=3, final_statuses=finals) == 0  # final never over final
    assert rows.update_status("delivered", final_statuses=finals) == 0
    record.refresh_from_db()
    assert (record.status, record.segments) == ("Delivered", 1)


def test_delivered_failed_delivered_keeps_the_first_final_status_and_its_time():
    record = make()
    rows = DeliveryRecord.objects.for_reference("zs", "s-1")
    finals = ["delivered", "failed"]
    assert rows.update_status("delivered", final_statuses=finals) == 1
    record.refresh_from_db()
    first = record.updated_at
    assert rows.update_status("failed", final_statuses=finals) == 0
    assert rows.update_status("delivered", final_statuses=finals) == 0
    record.refresh_from_db()
    assert (record.status, record.updated_at) == ("delivered", first)


def test_a_replayed_report_changes_nothing():
    record = make(status="sent", segments=2)
    rows = DeliveryRecord.objects.for_reference("zs", "s-1")
    before = DeliveryRecord.objects.get(pk=record.pk).updated_at
    assert rows.update_status("sent") == 0
    assert rows.update_status("sent", segments=2) == 0
    assert DeliveryRecord.objects.get(pk=record.pk).updated_at == before
    assert rows.update_status("sent", segments=3) == 1  # news: the part count
    record.refresh_from_db()
    assert (record.status, record.segments) == ("sent", 3)


def test_status_is_kept_raw_but_cut_to_the_column_and_segments_clamped():
    record = make()
    DeliveryRecord.objects.for_reference("zs", "s-1").update_status("x" * 40, segments=10**9)
    record.refresh_from_db()
    assert record.status == "x" * 32 and record.segments == SEGMENTS_MAX


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
                    reason="needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres")
@pytest.mark.django_db(transaction=True)
def test_two_final_reports_racing_cannot_both_win():
    """Two threads, each with its own connection, report "delivered" and
    "failed" at the same moment: one UPDATE changes the row, the other finds
    it final and changes nothing."""
    finals = ["delivered", "failed"]
    for trial in range(20):
        record = make(reference=f"race-{trial}")
        barrier = threading.Barrier(2, timeout=20)
        won: dict[str, int] = {}

        def report(status, record=record, barrier=barrier, won=won):
            try:
                rows = DeliveryRecord.objects.for_reference("zs", record.reference)
                barrier.wait()
                won[status] = rows.update_status(status, final_statuses=finals)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=report, args=(status,)) for status in finals]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        [winner] = [status for status, updated in won.items() if updated == 1]
        assert sorted(won.values()) == [0, 1]
        record.refresh_from_db()
        assert record.status == winner
