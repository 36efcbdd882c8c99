"""Settings of the example site as the soak runs it: a production-like site.

``DEBUG = False``, PostgreSQL, Django's RedisCache (through the soak's
stallable proxy, with socket timeouts), the shipped SMS step, and Signicat
-> ZignSec (with its delivery webhook) -> AccuAuth on the loopback sandbox,
with a short delivery deadline (``SOAK_DELIVERY_DEADLINE``, default 2 s).
Everything the soak changes comes from the environment it sets:
``SOAK_DATABASE``, ``SOAK_REDIS_URL``, ``SOAK_SANDBOX_URL``, ``SOAK_SITE_URL``,
``SOAK_LOG_FILE``.
"""

import os

from example_project.settings import *  # noqa: F403 (the example site, changed below)
from sms_sandbox import CREDENTIALS

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
SECRET_KEY = "soak-not-secret"  # noqa: S105 (a loopback benchmark)

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("SOAK_DATABASE", "sms_soak"),
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": "5432",
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("SOAK_REDIS_URL", "redis://127.0.0.1:6379/0"),
        "KEY_PREFIX": f"sms-soak-{os.environ.get('SOAK_DATABASE', '')}",
        # What the docs tell a site to set: a stalled Redis costs a login at most this, per call.
        "OPTIONS": {"socket_timeout": 0.25, "socket_connect_timeout": 0.25},
    }
}

_SANDBOX = os.environ.get("SOAK_SANDBOX_URL", "http://127.0.0.1:8025")
_SITE = os.environ.get("SOAK_SITE_URL", "http://127.0.0.1:8000")
# Short, so that the "silent vendor" phase sees fail-overs within its time.
OTP_SMS_DELIVERY_DEADLINE = float(os.environ.get("SOAK_DELIVERY_DEADLINE", "2"))
SMS_GATEWAYS = {
    "signicat": {
        "BACKEND": "django_sms_gateway.backends.signicat.SignicatBackend",
        "OPTIONS": {"base_url": f"{_SANDBOX}/signicat", **CREDENTIALS["signicat"], "sender": "Soak"},
        "TIMEOUT": 2,
    },
    "zignsec": {
        "BACKEND": "django_sms_gateway.backends.zignsec.ZignSecBackend",
        "OPTIONS": {"base_url": f"{_SANDBOX}/zignsec", "api_key": CREDENTIALS["zignsec"]["api_key"], "sender": "Soak",
                    "webhook_url": f"{_SITE}/sms/webhooks/zignsec/zignsec/",
                    "webhook_secret": CREDENTIALS["zignsec"]["webhook_secret"]},
        "TIMEOUT": 2,
    },
    "accuauth": {
        "BACKEND": "django_sms_gateway.backends.accuauth.AccuAuthBackend",
        "OPTIONS": {"base_url": f"{_SANDBOX}/accuauth", **CREDENTIALS["accuauth"]},
        "TIMEOUT": 2,
    },
}
# Each soak user logs in again and again; a real cooldown would refuse most of those sends.
OTP_SMS_COOLDOWN_DURATION = 1
# Each soak client sends its own X-Forwarded-For, as one proxy in front of the site would write it.
OTP_SMS_CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
OTP_SMS_TRUSTED_PROXIES = 1
OTP_SMS_ORIGIN = None

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(process)d [%(name)s] %(levelname)s %(message)s"}},
    "handlers": {"file": {"class": "logging.FileHandler", "filename": os.environ.get("SOAK_LOG_FILE", os.devnull),
                          "formatter": "plain"}},
    "loggers": {
        "django_sms_gateway": {"handlers": ["file"], "level": "DEBUG", "propagate": False},
        "django.request": {"handlers": ["file"], "level": "ERROR", "propagate": False},
    },
}
