import pytest

from django_sms_gateway.dispatch import build_backend
from django_sms_gateway.models import DeliveryRecord
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
def webhook_gateways(request, sandbox, settings):
    """``SMS_GATEWAYS`` of a webhook test module: its ``gateways(sandbox)``."""
    settings.SMS_GATEWAYS = request.module.gateways(sandbox)


@pytest.fixture
def record(request, device):
    """The delivery record a webhook test module's reports are about: a
    message sent to the test's device, with the module's ``RECORD`` fields
    (its gateway, the vendor's reference, the status it has so far)."""
    return DeliveryRecord.objects.create(device=device, outcome="sent", number_masked=device.masked_number,
                                         **request.module.RECORD)


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
