"""Run the example project's pages inside the test suite.

``example_project/`` is a Django project directory, not a package: its
project package (``example_project.settings``) and app (``demo``) live one
level down. pytest's ``pythonpath`` setting (pyproject.toml) puts that
directory first on ``sys.path``, as ``manage.py`` would have it, so the
regular package ``example_project/example_project`` is found before the bare
``example_project/`` directory at the repository root.

:func:`example_settings` gives the settings to ``override_settings`` with:
the example's own apps, middleware, templates, URLs and sign-in settings,
with the test suite's database and the locmem SMS backend.
"""

from __future__ import annotations

from typing import Any

from example_project import settings as example

LOCMEM_GATEWAYS = {"locmem": {"BACKEND": "django_sms_gateway.backends.locmem.LocmemBackend"}}

_COPIED = (
    "INSTALLED_APPS",
    "MIDDLEWARE",
    "ROOT_URLCONF",
    "TEMPLATES",
    "STATIC_URL",
    "LOGIN_URL",
    "LOGIN_REDIRECT_URL",
    "LOGOUT_REDIRECT_URL",
    "OTP_LOGIN_URL",
    "OTP_SMS_COOLDOWN_DURATION",
    "OTP_SMS_BASE_TEMPLATE",
    "OTP_SMS_ENROL_URL",
)


def example_settings(**overrides: Any) -> dict[str, Any]:
    """Settings of the example site for ``override_settings``, SMS to the locmem outbox."""
    values = {name: getattr(example, name) for name in _COPIED}
    values["SMS_GATEWAYS"] = LOCMEM_GATEWAYS
    values.update(overrides)
    return values
