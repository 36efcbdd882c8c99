"""``manage.py clearsmslimits [--user USER] [--number NUMBER] [--address IP] [--unlock]``: for support.

Empties the sending-limit counters (:func:`django_sms_gateway.limits.clear`)
of a user, a number or a client address, so that someone refused by a limit
can be sent a code again at once, and resets the matching devices' cooldown:

- ``--user`` (a username, else a pk): the user's ``user`` budget, the
  ``number`` budget they have as the confirmed owner of each of their
  devices' numbers, and their devices' cooldown. The budgets a number shares
  with other people are left alone: add ``--number`` for those.
- ``--number`` (read as a device reads it): the number's shared ``number``
  budget, every owner's own budget of it, its ``prefix`` budget (which the
  numbers that differ only in the last ``OTP_SMS_LIMIT_PREFIX_DIGITS`` digits
  share), and the cooldown of every device with that number.
- ``--address`` (an IP address, or an IPv6 /64): its ``ip`` budget; an IPv6
  address clears its whole /64, as the limit counts it.

Each option may be given more than once. ``--unlock`` also forgets the
matching devices' wrong-code failures and lock-out (as the admin's "Reset
throttling"). The ``global`` budget of a country is never cleared. The
admin's "Clear sending limits" action does what ``--user`` and ``--number``
do for the selected devices' users and numbers (:func:`clear_sending_limits`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from ... import limits
from ...conf import settings
from ...limits import counters
from ...models import SMSDevice
from ...phone import normalize_number

#: Exit status of a wrong command line (as argparse's own errors).
USAGE = 2


@dataclass(frozen=True, slots=True)
class Clearing:
    """What :func:`clear_sending_limits` did: the counters emptied, and the
    devices whose cooldown (and, when asked, lock-out) was reset."""

    cleared: list[limits.Cleared]
    cooldowns: int
    unlocked: int
    #: The users' devices not confirmed: their sends count in their numbers' shared budgets.
    unconfirmed: list[SMSDevice]

    @property
    def sends(self) -> int:
        return sum(entry.sends for entry in self.cleared)


def clear_sending_limits(
    *, user_ids: Iterable[Any] = (), numbers: Iterable[str] = (), addresses: Iterable[str] = (),
    unlock: bool = False,
) -> Clearing:
    """Clear what ``--user`` (each of ``user_ids``), ``--number`` (each of
    ``numbers``, E.164) and ``--address`` clear. Raises as
    :func:`~django_sms_gateway.limits.clear` does, and then no device was changed."""
    user_ids, numbers = set(user_ids), set(numbers)
    devices = SMSDevice.objects.filter(Q(user_id__in=user_ids) | Q(number__in=numbers))
    cleared = limits.clear(
        user_ids=sorted(user_ids, key=str), numbers=sorted(numbers), addresses=addresses,
        owned=sorted(set(devices.values_list("number", "user_id")), key=str),
    )
    unconfirmed = [
        device for device in devices.filter(user_id__in=user_ids, confirmed=False) if device.number not in numbers
    ]
    cooldowns = devices.reset_cooldown()
    unlocked = devices.reset_throttling() if unlock else 0
    return Clearing(cleared, cooldowns, unlocked, unconfirmed)


class Command(BaseCommand):
    help = (
        "Clear the SMS sending limits (OTP_SMS_LIMITS) of a user, a number or a client address, and reset the "
        "matching devices' cooldown, so that a code can be sent again at once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--user", action="append", default=[], metavar="USER",
            help="A username (or else a user's pk): their user budget, their own budget of each of their "
                 "devices' numbers, their devices' cooldown.",
        )
        parser.add_argument(
            "--number", action="append", default=[], metavar="NUMBER",
            help="A phone number (+4798765432): its budgets, shared and owned, its prefix budget, and the "
                 "cooldown of the devices with it.",
        )
        parser.add_argument(
            "--address", action="append", default=[], metavar="IP",
            help="A client IP address (IPv6: its /64 is cleared, as the ip limit counts it).",
        )
        parser.add_argument(
            "--unlock", action="store_true",
            help="Also forget the matching devices' wrong-code failures and lock-out.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not (options["user"] or options["number"] or options["address"]):
            raise CommandError("Name what to clear: --user, --number or --address.", returncode=USAGE)
        users = [self._user(typed) for typed in options["user"]]
        numbers = [self._number(typed) for typed in options["number"]]
        try:
            done = clear_sending_limits(
                user_ids=[user.pk for user in users], numbers=numbers, addresses=options["address"],
                unlock=options["unlock"],
            )
        except ValueError as exc:
            raise CommandError(str(exc), returncode=USAGE) from None
        except counters.SharedCacheDown as down:
            raise CommandError(f"{down}; nothing was cleared.") from None
        for user in users:
            self.stdout.write(f"user {user.pk} is {user.get_username()!r}")
        for entry in done.cleared:
            if entry.sends:
                limit = entry.limit
                self.stdout.write(f"{limit.name:<7} {f'{limit.count}/{limit.seconds}s':>10}  {entry.subject}: "
                                  f"{_count(entry.sends, 'send')} cleared")
        if not done.cleared:
            self.stdout.write("No limit that counts these is on (OTP_SMS_LIMITS).")
        else:
            self.stdout.write(self.style.SUCCESS(
                f"Cleared {_count(done.sends, 'send')} from {_count(len(done.cleared), 'budget')}."
            ))
        self.stdout.write(f"Reset the cooldown of {_count(done.cooldowns, 'device')}.")
        if options["unlock"]:
            self.stdout.write(f"Reset the wrong-code failures and lock-out of {_count(done.unlocked, 'device')}.")
        for device in done.unconfirmed:
            self.stdout.write(self.style.WARNING(
                f"Device {device.name!r} ({device.masked_number}) of user {device.user_id} is not confirmed: "
                "its sends count in the number's shared budget, which --user leaves alone; add --number to "
                "clear it."
            ))

    @staticmethod
    def _user(typed: str) -> Any:
        """The user whose username is ``typed``, or else whose pk it is."""
        model = get_user_model()
        found = model._default_manager.filter(**{model.USERNAME_FIELD: typed}).first()
        if found is None:
            try:
                found = model._default_manager.filter(pk=typed).first()
            except (ValueError, ValidationError):
                found = None
        if found is None:
            raise CommandError(f"No user with the username or pk {typed!r}.", returncode=USAGE)
        return found

    @staticmethod
    def _number(typed: str) -> str:
        try:
            return normalize_number(typed, settings.OTP_SMS_DEFAULT_REGION)
        except ValidationError as exc:
            raise CommandError(f"{typed!r} is not a number codes are sent to: {' '.join(exc.messages)}",
                               returncode=USAGE) from None


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
