import pytest
from django.contrib.auth import get_user_model

from django_sms_gateway.models import SMSDevice
from django_sms_gateway.sandbox.fixtures import sandbox, sms_sandbox  # noqa: F401  (loopback vendor sandbox)


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("alice", password="correct horse")


@pytest.fixture
def device(user):
    return SMSDevice.objects.create(user=user, name="phone", number="+4798765432")
