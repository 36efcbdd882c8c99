"""manage.py sendtestsms over HTTP: a real fallback between two vendors, and --check."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command, execute_from_command_line
from django.test import override_settings

from .helpers import LOCMEM_ENTRY, NUMBER, closed_port_url, gateway_entry, signicat_entry, zignsec_entry

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


def check(sandbox, *args, **entries):
    out = StringIO()
    gateways = entries or {"ip1": gateway_entry("ip1", sandbox), "accuauth": gateway_entry("accuauth", sandbox),
                           "locmem": LOCMEM_ENTRY}
    with override_settings(SMS_GATEWAYS=gateways):
        call_command("sendtestsms", "--check", *args, stdout=out, no_color=True)
    return out.getvalue()


def line(output, alias):
    return next(row for row in output.splitlines() if row.split()[:1] == [alias])


def test_check_prints_one_line_per_gateway_and_sends_nothing(sandbox):
    output = check(sandbox)
    assert "no SMS is sent" in output
    assert line(output, "ip1").split()[1:3] == ["credentials", "accepted"]
    assert "no check available" in line(output, "accuauth") and "only a real send can tell" in line(output, "accuauth")
    assert "no check available" in line(output, "locmem")
    assert sandbox.messages == [] and sandbox.stats["accuauth"]["requests"] == 0
    assert sandbox.last_request("ip1").path == "/ip1/api/authentications/settings"


def test_check_refused_credentials_exit_non_zero(sandbox):
    out = StringIO()
    gateways = {"ip1": gateway_entry("ip1", sandbox, api_key="wrong-key"), "locmem": LOCMEM_ENTRY}
    with override_settings(SMS_GATEWAYS=gateways), pytest.raises(CommandError, match=r"refused by: ip1\.") as error:
        call_command("sendtestsms", "--check", stdout=out, no_color=True)
    assert error.value.returncode == 1
    assert "credentials refused" in line(out.getvalue(), "ip1") and "wrong-key" not in out.getvalue()
    assert "locmem" in out.getvalue()  # every gateway is still checked and printed


def test_check_one_gateway(sandbox):
    output = check(sandbox, "--gateway", "ip1")
    assert [row.split()[0] for row in output.splitlines()[1:-1]] == ["ip1"]


def check_failing(sandbox, returncode, **entries):
    """The output of a --check that must fail with ``returncode``."""
    out = StringIO()
    with override_settings(SMS_GATEWAYS=entries), pytest.raises(CommandError) as error:
        call_command("sendtestsms", "--check", stdout=out, no_color=True)
    assert error.value.returncode == returncode, error.value
    return out.getvalue(), str(error.value)


def test_a_vendor_that_cannot_answer_fails_the_check_with_its_own_status(sandbox):
    sandbox.set_fault("ip1", "500")
    output, error = check_failing(sandbox, 3, ip1=gateway_entry("ip1", sandbox), accuauth=gateway_entry(
        "accuauth", sandbox))
    assert "could not be checked" in line(output, "ip1") and "no verdict from iP1" in line(output, "ip1")
    assert "credentials refused" not in output and "no check available" in line(output, "accuauth")
    assert error.startswith("Could not check ip1:") and "accuauth" not in error


def test_nothing_reachable_is_not_a_pass(sandbox):
    output, error = check_failing(
        sandbox, 3, ip1=gateway_entry("ip1", None, base_url=closed_port_url()),
        signicat=gateway_entry("signicat", None, base_url=closed_port_url()),
    )
    assert "could not be checked" in line(output, "ip1") and "could not be checked" in line(output, "signicat")
    assert "ip1, signicat" in error


def test_a_refusal_outranks_a_vendor_that_could_not_be_asked(sandbox):
    output, error = check_failing(
        sandbox, 1, ip1=gateway_entry("ip1", sandbox, api_key="wrong-key"),
        signicat=gateway_entry("signicat", None, base_url=closed_port_url()),
    )
    assert "credentials refused" in line(output, "ip1") and "could not be checked" in line(output, "signicat")
    assert "refused by: ip1." in error and "Could not check signicat" in error


def test_gateways_without_a_check_pass_and_say_so(sandbox):
    output = check(sandbox, accuauth=gateway_entry("accuauth", sandbox), locmem=LOCMEM_ENTRY)
    assert "no check available" in line(output, "accuauth") and "no check available" in line(output, "locmem")
    assert output.splitlines()[-1] == (
        "No credentials were refused; only a real send can tell for: accuauth, locmem."
    )
    assert sandbox.stats["accuauth"]["requests"] == 0


def test_the_exit_status_from_the_command_line(sandbox, capsys):
    unreachable = {"ip1": gateway_entry("ip1", None, base_url=closed_port_url())}
    with override_settings(SMS_GATEWAYS=unreachable), pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "sendtestsms", "--check", "--no-color"])
    assert exited.value.code == 3 and "Could not check ip1" in capsys.readouterr().err
    with override_settings(SMS_GATEWAYS={"ip1": gateway_entry("ip1", sandbox)}):
        execute_from_command_line(["manage.py", "sendtestsms", "--check", "--no-color"])  # exit 0: no SystemExit
    assert capsys.readouterr().out.splitlines()[-1] == "Every gateway accepted its credentials."


def test_check_takes_no_number(sandbox):
    with pytest.raises(CommandError, match="--check sends nothing") as error:
        call_command("sendtestsms", NUMBER, "--check", stdout=StringIO())
    assert error.value.returncode == 2


def test_a_number_or_check_is_needed():
    with override_settings(SMS_GATEWAYS={"locmem": LOCMEM_ENTRY}), pytest.raises(CommandError, match="--check"):
        call_command("sendtestsms", stdout=StringIO())
