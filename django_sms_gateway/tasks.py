"""The delivery-deadline task, on Django's task framework: ``django.tasks``
from Django 6.0, the ``django-tasks`` backport before it (the ``tasks``
extra). Importing this module without either raises ImportError;
:func:`django_sms_gateway.failover.schedule` then enqueues nothing.

The task runs on the backend ``TASKS["default"]`` names, by whatever worker
the site runs for it (django-tasks' database backend, RQ, Celery...).
"""

from __future__ import annotations

import django

from .failover import settle_overdue

if django.VERSION >= (6, 0):
    from django.tasks import task
else:
    from django_tasks import task  # type: ignore[no-redef]

__all__ = ["fail_over_when_overdue"]


@task
def fail_over_when_overdue(challenge: str) -> int:
    """Fail ``challenge`` over when its send has no final receipt by its
    deadline (:func:`~django_sms_gateway.failover.settle_overdue`); returns
    the codes sent."""
    return settle_overdue(challenge)
