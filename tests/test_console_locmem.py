"""The development backends' OPTIONS follow the same rules as the vendors'."""

import io

import pytest

from django_sms_gateway.backends.console import ConsoleBackend
from django_sms_gateway.backends.locmem import LocmemBackend
from django_sms_gateway.exceptions import ConfigurationError


@pytest.mark.parametrize("backend", [ConsoleBackend, LocmemBackend])
def test_a_sender_outside_the_rules_is_refused(backend):
    with pytest.raises(ConfigurationError, match=r"option 'sender' must be numeric") as info:
        backend("dev", {"sender": "Far too long sender"})
    assert info.value.check_id == "sms_gateway.E005"


@pytest.mark.parametrize("backend", [ConsoleBackend, LocmemBackend])
def test_a_good_sender_is_kept(backend):
    assert backend("dev", {"sender": "Acme"}).config["sender"] == "Acme"


def test_console_stream_must_be_writable():
    with pytest.raises(ConfigurationError, match=r"option 'stream' must be a writable stream"):
        ConsoleBackend("dev", {"stream": "stdout"})
    stream = io.StringIO()
    assert ConsoleBackend("dev", {"stream": stream}).stream is stream
