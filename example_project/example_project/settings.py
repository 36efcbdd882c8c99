"""Settings of the django-otp-sms-gateway example site. Development only.

Environment variables:

- ``DEMO_SMS``: ``console`` or ``sandbox`` (see :mod:`example_project.demo_sms`).
- ``DEMO_SANDBOX_PORT``: port of the loopback vendor sandbox (default 8025).
- ``DJANGO_SECRET_KEY``: overrides the fixed development key.
- ``DEMO_SMS_ORIGIN``: the host in each SMS's origin-bound last line (default
  ``localhost``; browsers offer the code only on that host).
"""

import os
from pathlib import Path

from example_project.demo_sms import choose_mode, sms_gateways

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-example-site-of-django-sms-gateway")
DEBUG = True
ALLOWED_HOSTS: list[str] = []  # with DEBUG: localhost, 127.0.0.1 and [::1]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_sms_gateway",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After AuthenticationMiddleware: sets request.user.otp_device and is_verified().
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Lets the sending limits see the client IP: OTPTokenForm sends codes without the request.
    "django_sms_gateway.middleware.SMSRequestMiddleware",
]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"

# Sign-in: password first (LOGIN_URL), then the package's SMS step (OTP_LOGIN_URL),
# where django_otp.decorators.otp_required sends signed-in but unverified users.
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
OTP_LOGIN_URL = "/sms/verify/"

# django-otp-sms-gateway.
DEMO_SMS = choose_mode(os.environ.get("DEMO_SMS"))
DEMO_SANDBOX_PORT = int(os.environ.get("DEMO_SANDBOX_PORT", "8025"))
DEMO_SANDBOX_URL = f"http://127.0.0.1:{DEMO_SANDBOX_PORT}"
# Where the sandbox's ZignSec and Twilio post delivery receipts: this site, as `manage.py demo` serves it.
DEMO_SITE_URL = os.environ.get("DEMO_SITE_URL", "http://127.0.0.1:8000")
SMS_GATEWAYS = sms_gateways(DEMO_SMS, DEMO_SANDBOX_URL, DEMO_SITE_URL)
# A vendor that accepts a code but never reports it delivered hands the challenge on after this
# many seconds (the default is 30); `manage.py demo` sweeps for overdue sends every 2 seconds.
OTP_SMS_DELIVERY_DEADLINE = 10
OTP_SMS_COOLDOWN_DURATION = 30  # short, so "Resend" can be tried in the demo
# The breaker's cool-off is four cooldowns: after a vendor fails three times in a row, the next
# sends skip it (logged as "skipped (circuit open)") instead of trying it again at once.
OTP_SMS_BREAKER_COOLOFF = 120
# Sending limits: every one far above the defaults, so a walkthrough (and trying the fallback)
# never locks the tester out; a site keeps the defaults or sets its own (docs/limits.md).
OTP_SMS_LIMITS = {
    "number": (100, 3600),
    "prefix": (200, 3600),
    "ip": (200, 3600),
    "user": (100, 3600),
    "global": (10000, 3600),
}
OTP_SMS_SITE_NAME = "SMS demo"
# The shipped SMS step in the demo's page frame; users without a phone enrol one first.
OTP_SMS_BASE_TEMPLATE = "demo/base.html"
OTP_SMS_ENROL_URL = "phones"
# Origin-bound codes: the SMS ends with "@localhost #123456", which browsers read (WebOTP).
OTP_SMS_ORIGIN = os.environ.get("DEMO_SMS_ORIGIN", "localhost")
# The demo shows the SMS step alone. A real site offers a stronger factor beside it (NIST SP 800-63B
# rev. 4): it installs one, such as django_otp.plugins.otp_totp, and sets OTP_SMS_ALTERNATIVE_URL to
# the page that enrols it (docs/security.md), rather than silence this warning.
SILENCED_SYSTEM_CHECKS = ["sms_gateway.W032"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"short": {"format": "[%(name)s] %(levelname)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "short"}},
    # Shows each gateway tried (masked numbers, never codes), so fallback is visible.
    "loggers": {"django_sms_gateway": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
