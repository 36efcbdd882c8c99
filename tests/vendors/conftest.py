import pytest

from django_sms_gateway.gateways import build_backend


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
