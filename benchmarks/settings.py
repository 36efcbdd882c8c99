"""Django settings for the benchmarks (``make bench``), not for a site.

SQLite in a temporary file (WAL journal, set up by :mod:`benchmarks.database`)
and the local-memory cache by default, so that a run needs no server.
``DATABASE_URL`` (``postgres://...``) and ``REDIS_URL`` (``redis://...``)
switch to PostgreSQL and Redis; the benchmark then runs in a throw-away
``test_`` database that it creates and drops.

``SMS_GATEWAYS`` is replaced per scenario (the sandbox's port is only known
at run time); limits and the cooldown are relaxed so that they never trip
while one device sends thousands of codes.
"""

from __future__ import annotations

import os
import tempfile

from tests.database_url import postgres_database

SECRET_KEY = "benchmarks-not-secret"  # noqa: S105 (a loopback benchmark)
DEBUG = False  # True would make Django keep every query in memory
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django_otp",
    "django_sms_gateway",
]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

#: Where the SQLite database lives; ``benchmarks.run`` points it at a
#: temporary directory it removes at the end.
SQLITE_PATH = os.environ.get("SMS_BENCH_SQLITE_PATH") or os.path.join(tempfile.gettempdir(), "sms-bench.sqlite3")


def _database(url: str | None) -> dict:
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            "TEST": {"NAME": SQLITE_PATH},
        }
    return postgres_database(url, test_name=f"test_sms_bench_{os.getpid()}")


DATABASES = {"default": _database(os.environ.get("DATABASE_URL"))}

REDIS_URL = os.environ.get("REDIS_URL")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
         "KEY_PREFIX": f"sms-bench-{os.getpid()}"}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# With Redis, a send's delivery record waits there and goes in with a batch (OTP_SMS_DELIVERY_RECORD_CACHE).
OTP_SMS_DELIVERY_RECORD_CACHE = "default" if REDIS_URL else None

# Warnings (a refused or hung vendor) are created as in production but not
# written anywhere, so that the table stays readable.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"django_sms_gateway": {"handlers": ["null"], "level": "WARNING", "propagate": False}},
}

SMS_GATEWAYS = {"locmem": {"BACKEND": "django_sms_gateway.backends.locmem.LocmemBackend"}}
OTP_SMS_SENDER = "Bench"
OTP_SMS_COOLDOWN_DURATION = 0
# One device sends thousands of codes here: no send limit may trip (None turns one off).
OTP_SMS_LIMITS = {"number": None, "prefix": None, "ip": None, "user": None, "global": None}
OTP_SMS_THROTTLE_FACTOR = 0
SILENCED_SYSTEM_CHECKS = ["sms_gateway.W001"]
