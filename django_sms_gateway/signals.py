"""Signals sites can connect to (for alerting, metrics, audit).

Every signal carries ``number`` already masked (``+47******32``); none
carries a code.

- ``code_sent(alias, number, device, delivery)``: a gateway accepted the code.
- ``gateway_failed(alias, number, reason, error)``: one gateway failed; the next is tried.
- ``delivery_failed(aliases, number, attempts, error)``: no gateway delivered the
  code; ``aliases`` are the gateways that failed, in order (each attempt has its alias).
- ``limit_hit(limit, number, key, retry_after)``: a sending limit refused a send;
  ``limit`` is ``number``, ``prefix``, ``user``, ``ip``, ``global``, ``country``,
  ``number_type`` or ``unavailable`` (limits cache unreachable), ``key`` an opaque
  id of the counter (never the number or address), or None.
- ``code_verified(alias, number, device)``: a code was accepted.
- ``code_refused(alias, number, device, reason)``: a code was refused.
- ``breaker_opened(alias, failures, cooloff)``: gateway ``alias`` failed
  ``failures`` times in a row (or failed its trial) and is skipped for
  ``cooloff`` seconds. Sent once per opening in the whole cluster (the state
  is shared through the cache), by the process whose failure opened it.
- ``breaker_closed(alias)``: the trial after a cool-off succeeded (or
  ``manage.py sendtestsms`` delivered through the gateway); it is used again.

For ``code_verified`` and ``code_refused``, ``alias`` is the gateway that
checked the code when the vendor holds it (iP1), and None when the code was
checked here. ``code_sent`` may also come from the django-two-factor-auth
gateway (:mod:`django_sms_gateway.integrations.two_factor`), whose ``device``
is a two_factor ``PhoneDevice``.
"""

from django.dispatch import Signal

code_sent = Signal()
gateway_failed = Signal()
delivery_failed = Signal()
limit_hit = Signal()
code_verified = Signal()
code_refused = Signal()
breaker_opened = Signal()
breaker_closed = Signal()
