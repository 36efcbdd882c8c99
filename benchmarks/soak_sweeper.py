"""The soak's stand-in for a cron job or task worker: ``manage.py smsfailover``'s
sweep, every ``SOAK_SWEEP_SECONDS`` (default 0.5), until it is terminated.

Runs with the soak site's settings (``DJANGO_SETTINGS_MODULE`` and the
``SOAK_*`` environment the soak sets)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    sys.path.insert(0, str(ROOT / "example_project"))
    import django

    django.setup()
    from django.db import DatabaseError, close_old_connections

    from django_sms_gateway.failover import sweep

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    every = float(os.environ.get("SOAK_SWEEP_SECONDS", "0.5"))
    while not stop.wait(every):
        close_old_connections()
        try:
            sweep()
        except DatabaseError:
            pass  # the soak terminates PostgreSQL backends on purpose: the next sweep retries
    return 0


if __name__ == "__main__":
    sys.exit(main())
