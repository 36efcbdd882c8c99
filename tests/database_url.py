"""``DATABASE_URL`` as a Django ``DATABASES`` entry, for the test suite's and
the benchmarks' settings."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit


def postgres_database(url: str, *, test_name: str) -> dict[str, Any]:
    """The PostgreSQL database ``url`` names (``postgres://user:password@host:port/name``),
    with ``test_name`` for the throw-away database Django creates; ValueError for another scheme."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"DATABASE_URL: only postgres:// is supported, not {parts.scheme}://")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/") or "postgres",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "TEST": {"NAME": test_name},
    }
