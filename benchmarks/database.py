"""The benchmark's throw-away database: created and migrated at start, dropped at the end.

SQLite runs with the write-ahead log and ``synchronous=NORMAL``, as a site
serving concurrent requests from SQLite would: the 8-thread scenario then
measures our code, not a lock held across an ``fsync`` per commit.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.backends.signals import connection_created

__all__ = ["create", "describe", "destroy"]


def _tune_sqlite(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")


def create() -> None:
    """Create the test database (``TEST.NAME``) and apply every migration."""
    connection_created.connect(_tune_sqlite, dispatch_uid="sms-bench-sqlite")
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)


def destroy(old_name: str) -> None:
    connection.creation.destroy_test_db(old_name, verbosity=0)


def describe() -> str:
    if connection.vendor == "sqlite":
        return "SQLite file (WAL, synchronous=NORMAL)"
    return f"{connection.display_name} {'.'.join(map(str, connection.get_database_version()))}"
