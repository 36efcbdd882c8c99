"""Settings for the test suite.

SQLite and the local-memory cache by default. ``DATABASE_URL`` (PostgreSQL)
and ``REDIS_URL`` switch the suite to real servers, as CI does.
"""

import os

from tests.database_url import postgres_database

SECRET_KEY = "tests-not-secret"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# pytest-django's live_server serves static files and needs this set.
STATIC_URL = "/static/"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django_otp",
    "django_sms_gateway",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_sms_gateway.middleware.SMSRequestMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _database(url: str | None) -> dict:
    if not url:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    # One test database per run (inherited by subprocesses), so parallel runs never collide.
    return postgres_database(url, test_name=os.environ.setdefault("SMS_TEST_DB_NAME", f"test_sms_{os.getpid()}"))


DATABASES = {"default": _database(os.environ.get("DATABASE_URL"))}

REDIS_URL = os.environ.get("REDIS_URL")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
         # One prefix per run, inherited by subprocesses (tests of state shared between processes).
         "KEY_PREFIX": os.environ.setdefault("SMS_TEST_CACHE_PREFIX", f"sms-tests-{os.getpid()}"),
         # A hung Redis must not hold a test (or a login) for long: the sms_gateway.W016 check.
         "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2}}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

SMS_GATEWAYS = {"locmem": {"BACKEND": "django_sms_gateway.backends.locmem.LocmemBackend"}}
OTP_SMS_COOLDOWN_DURATION = 0
SILENCED_SYSTEM_CHECKS = ["sms_gateway.W001"]

# django-two-factor-auth (test extra): its phone device model for the integration tests, and the
# django-otp plugins its LoginView reads (backup tokens, authenticator apps).
try:
    import two_factor  # noqa: F401
except ImportError:  # the integration tests skip and say why
    pass
else:
    INSTALLED_APPS += [
        "django_otp.plugins.otp_static",
        "django_otp.plugins.otp_totp",
        "two_factor",
        "two_factor.plugins.phonenumber",
    ]
    TWO_FACTOR_PATCH_ADMIN = False

# The suite sends many codes to the same numbers, and the local-memory cache lives as long as the
# test process: every sending-limit counter is off here. tests/test_limits.py turns them on.
OTP_SMS_LIMITS = None
