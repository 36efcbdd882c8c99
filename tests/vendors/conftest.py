import pytest

from django_sms_gateway.gateways import build_backend
from sms_sandbox import CREDENTIALS

from .helpers import gateway_entry


@pytest.fixture
def built_backends():
    """``build(alias, entry)`` builds a backend from an ``SMS_GATEWAYS``
    entry; every backend built is closed after the test."""
    built = []

    def build(alias, entry):
        backend = build_backend(alias, entry)
        built.append(backend)
        return backend

    yield build
    for backend in built:
        backend.close()


@pytest.fixture
def make_backend(request, sandbox, built_backends):
    """``make_backend(**options)`` builds the test module's ``VENDOR`` at the
    sandbox: ``gateway_entry``'s keywords (``timeout``, ``base_url``, options)."""
    vendor = request.module.VENDOR
    return lambda **options: built_backends(vendor, gateway_entry(vendor, sandbox, **options))


@pytest.fixture
def aws_credentials(monkeypatch, tmp_path):
    """botocore's chain finds the sandbox's key in the environment, and never asks an instance role."""
    keys = CREDENTIALS["aws"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys["aws_secret_access_key"])
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(name, str(tmp_path / "none"))
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
