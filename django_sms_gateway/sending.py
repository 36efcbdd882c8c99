"""The send path's writes around the vendor call, and what a caller's
transaction changes about them.

Outside a transaction each write commits on its own: the claim before the
vendor is called (so no row lock is held during the call), the records after
it, on a new connection if the old one was lost meanwhile. Inside the
caller's transaction the vendor is called once it commits
(``transaction.on_commit``), so that a rollback never undoes a code that was
sent and the caller's row lock is released before the call.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet

from . import signals
from .backends.base import SMSMessage
from .codes import unguessable_marker
from .dispatch import Delivery, send_message
from .exceptions import DeliveryFailed
from .records import DeliveryRecord

if TYPE_CHECKING:
    from .models import SMSDevice

__all__ = ["ClaimedSend", "ScheduledDelivery", "in_callers_transaction", "warn_once_about_transaction"]

logger = logging.getLogger("django_sms_gateway")

#: Errors that say the database connection was lost (not that a statement was wrong).
CONNECTION_LOST = (OperationalError, InterfaceError)

_warned_about_transactions = threading.Event()


def in_callers_transaction(connection: BaseDatabaseWrapper) -> bool:
    """Whether the caller has a transaction open on ``connection``.

    The transaction a test case wraps each test in does not count: it stands
    for autocommit, and never commits."""
    return connection.in_atomic_block and not getattr(connection.atomic_blocks[0], "_from_testcase", False)


def warn_once_about_transaction() -> None:
    if _warned_about_transactions.is_set():
        return
    _warned_about_transactions.set()
    logger.warning(
        "SMSDevice.generate_challenge() was called inside a database transaction (django-otp's OTPTokenForm "
        "does this): the code is sent when that transaction commits, so that no vendor call holds its row "
        "locks and no rollback loses a code that was sent, but a failure to send can no longer be shown "
        "on the page. Call generate_challenge() outside a transaction (django_sms_gateway's SMSVerifyView "
        "does) to send at once. Logged once per process."
    )


class _Releasable(Protocol):
    """What :func:`limits.check_send` returns: the counts one send raised."""

    def release(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ScheduledDelivery:
    """What :meth:`SMSDevice.send_code` returns when the code goes out once
    the caller's transaction on ``database`` commits."""

    database: str


class ClaimedSend:
    """One claimed code on its way: the walk over the gateways, then the
    writes that follow it (each in autocommit, see :meth:`SMSDevice.send_code`)."""

    def __init__(self, device: SMSDevice, database: str, message: SMSMessage, token_hash: str,
                 previous: datetime | None, claimed_at: datetime, reservation: _Releasable) -> None:
        self.device, self.database, self.message = device, database, message
        self.token_hash, self.previous, self.claimed_at = token_hash, previous, claimed_at
        self.reservation = reservation

    def now(self) -> Delivery:
        device = self.device
        try:
            delivery = send_message(self.message)
        except DeliveryFailed as failure:
            if not failure.may_have_sent:
                # Nothing reached a vendor: give back the counts and the slot, forget the code.
                self.reservation.release()
                self._write("the released cooldown", lambda: self._claimed().update(
                    last_generated_timestamp=self.previous, token=None, valid_until=self.claimed_at
                ))
                device.last_generated_timestamp, device.token = self.previous, None
            # Else a vendor may have sent it: the code stays good until it expires, and the
            # cooldown and the counts stay, so that asking again cannot be charged at once.
            attempts = failure.attempts
            self._write("the delivery records", lambda: DeliveryRecord.record(device, attempts))
            raise

        if delivery.vendor_verifies:
            marker = unguessable_marker()
            self._write("the vendor's code marker",
                        lambda: self._claimed().update(token=marker, vendor_gateway=delivery.alias))
            device.token, device.vendor_gateway = marker, delivery.alias
        self._write("the delivery records",
                    lambda: DeliveryRecord.record(device, delivery.attempts, delivery.result))
        signals.code_sent.send(
            sender=type(device), alias=delivery.alias, number=device.masked_number, device=device, delivery=delivery
        )
        return delivery

    def _claimed(self) -> QuerySet[Any]:
        """The device's row, while it still holds the code this send claimed."""
        return type(self.device).objects.using(self.database).filter(pk=self.device.pk, token=self.token_hash)

    def after_commit(self) -> None:
        """:meth:`now`, once the caller's transaction has committed; what goes
        wrong is logged (no one is left to tell)."""
        try:
            self.now()
        except DeliveryFailed:
            pass  # logged, signalled and recorded by the walk
        except Exception as exc:
            logger.error(
                "SMS code for %s, due when the transaction committed, was not sent: %s",
                self.device.masked_number, type(exc).__name__, exc_info=True,
            )

    def _write(self, what: str, write: Any) -> None:
        """Run ``write`` after the vendor was called. A connection lost while
        the vendor answered (terminated, or timed out) is opened again once;
        a write that still fails is logged, not raised: the code went out
        (or did not) whatever the database says, and the user is told so.
        Inside a transaction the error is raised: the transaction is lost."""
        connection = connections[self.database]
        for first_try in (True, False):
            try:
                write()
                return
            except DatabaseError as exc:
                if connection.in_atomic_block:
                    raise
                if first_try and isinstance(exc, CONNECTION_LOST):
                    logger.warning(
                        "SMS to %s: the database connection was lost while the vendor was called (%s); "
                        "writing %s on a new connection", self.device.masked_number, type(exc).__name__, what,
                    )
                    try:
                        connection.close()
                    except DatabaseError:
                        pass
                    continue
                logger.error(
                    "SMS to %s: could not write %s after the vendor was called (%s)",
                    self.device.masked_number, what, type(exc).__name__,
                )
                return
