"""manage.py sendtestsms shows a real fallback between two vendors over HTTP."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from .helpers import NUMBER, signicat_entry, zignsec_entry

pytestmark = pytest.mark.django_db


def run(sandbox, *args):
    out = StringIO()
    gateways = {"signicat": signicat_entry(sandbox), "zignsec": zignsec_entry(sandbox)}
    with override_settings(SMS_GATEWAYS=gateways):
        call_command("sendtestsms", NUMBER, *args, stdout=out, no_color=True)
    return out.getvalue()


def outcome(output, alias):
    for line in output.splitlines():
        words = line.split()
        if words[:1] == [alias]:
            return words[1]
    raise AssertionError(f"no line for {alias} in:\n{output}")


def test_signicat_down_falls_back_to_zignsec(sandbox):
    sandbox.set_fault("signicat", "500")
    output = run(sandbox)
    assert outcome(output, "signicat") == "failed" and outcome(output, "zignsec") == "sent"
    assert [m["vendor"] for m in sandbox.messages] == ["zignsec"]
    assert sandbox.messages[0]["recipient"] == NUMBER
    assert NUMBER not in output  # only the masked number is printed


def test_all_sends_through_each_vendor(sandbox):
    output = run(sandbox, "--all")
    assert outcome(output, "signicat") == "sent" and outcome(output, "zignsec") == "sent"
    assert sorted(m["vendor"] for m in sandbox.messages) == ["signicat", "zignsec"]


def test_both_down_exits_non_zero(sandbox):
    sandbox.set_fault("signicat", "500")
    sandbox.set_fault("zignsec", "refuse")
    with pytest.raises(CommandError):
        run(sandbox)
    assert sandbox.messages == []
