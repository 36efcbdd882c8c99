"""SQL cost of the login step: at most 3 statements to send a code; 1 to check
a right one (a conditional UPDATE spends it), 3 to refuse a wrong one (that
UPDATE, then the read and the counted failure).

Statements are what does the work (SELECT, INSERT, UPDATE, DELETE). A send
through one gateway writes its one delivery row in autocommit; after a
failover the rows go in with ``bulk_create``, which (before Django 6.0) wraps
its INSERT in a transaction of its own. Django logs that BEGIN and COMMIT too,
and they are counted separately: at most that one pair per send, and none for
the usual one.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_sms_gateway.testing import last_code

pytestmark = pytest.mark.django_db


def test_generate_challenge_queries(device, sms_outbox):
    with CaptureQueriesContext(connection) as ctx:
        device.generate_challenge()
    statements, _control = split(ctx.captured_queries)
    assert len(statements) <= 3, statements


@pytest.mark.parametrize("right", [True, False])
def test_verify_token_queries(device, sms_outbox, right):
    device.generate_challenge()
    code = last_code() if right else ("000000" if last_code() != "000000" else "111111")
    with CaptureQueriesContext(connection) as ctx:
        assert device.verify_token(code) is right
    kinds = [q["sql"].split()[0].upper() for q in ctx.captured_queries]
    assert kinds == (["UPDATE"] if right else ["UPDATE", "SELECT", "UPDATE"]), kinds


def test_a_right_code_after_a_failure_is_read_first(device, sms_outbox, settings):
    """A failure counted sends the next code through the read and the throttle check."""
    settings.OTP_SMS_THROTTLE_FACTOR = 0
    device.generate_challenge()
    code = last_code()
    assert device.verify_token("000000" if code != "000000" else "111111") is False
    with CaptureQueriesContext(connection) as ctx:
        assert device.verify_token(code) is True
    kinds = [q["sql"].split()[0].upper() for q in ctx.captured_queries]
    assert kinds == ["UPDATE", "SELECT", "UPDATE"], kinds


TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK")


def split(queries):
    """(statements, transaction control) of captured queries."""
    sql = [q["sql"] for q in queries]
    control = [q for q in sql if q.upper().startswith(TRANSACTION_CONTROL)]
    return [q for q in sql if q not in control], control


# Outside a test transaction, as in production, the code travelling over real
# HTTP through the sandbox's Signicat and ZignSec.

@pytest.fixture
def sandbox_gateways(sandbox, settings):
    from tests.vendors.helpers import signicat_entry, zignsec_entry

    settings.SMS_GATEWAYS = {"signicat": signicat_entry(sandbox), "zignsec": zignsec_entry(sandbox)}
    return sandbox


def _sandbox_code(sandbox):
    text = sandbox.messages[-1]["text"]
    return next(word.strip(".") for word in text.split() if word.strip(".").isdigit())


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("signicat_up", [True, False], ids=["signicat", "fallback-to-zignsec"])
def test_queries_through_the_sandbox_outside_a_transaction(device, sandbox_gateways, signicat_up):
    if not signicat_up:
        sandbox_gateways.set_fault("signicat", "500")
    with CaptureQueriesContext(connection) as ctx:
        device.generate_challenge()
    statements, control = split(ctx.captured_queries)
    assert sandbox_gateways.messages[-1]["vendor"] == ("signicat" if signicat_up else "zignsec")
    assert len(statements) <= 3, statements
    assert [q.split()[0].upper() for q in statements] == ["UPDATE", "INSERT"], statements  # claim, records
    allowed = ([],) if signicat_up else ([], ["BEGIN", "COMMIT"])  # bulk_create's own, on Django before 6.0
    assert [q.split()[0].upper() for q in control] in allowed, control

    with CaptureQueriesContext(connection) as ctx:
        assert device.verify_token(_sandbox_code(sandbox_gateways)) is True
    assert [q["sql"].split()[0].upper() for q in ctx.captured_queries] == ["UPDATE"], ctx.captured_queries


@pytest.mark.parametrize("right", [True, False])
def test_verify_token_queries_for_a_code_ip1_holds(sandbox, settings, device, right):
    """A vendor-held code costs one more statement: it is reserved before the
    vendor is asked (so that racing requests never ask twice), then settled."""
    import re

    from tests.vendors.helpers import ip1_entry

    settings.SMS_GATEWAYS = {"ip1": ip1_entry(sandbox)}
    device.generate_challenge()
    code = re.search(r"code is (\d+)\.", sandbox.messages[-1]["text"]).group(1)
    guess = code if right else "".join("1" if c == "0" else "0" for c in code)
    with CaptureQueriesContext(connection) as ctx:
        assert device.verify_token(guess) is right
    assert len(ctx.captured_queries) <= 3, [q["sql"] for q in ctx.captured_queries]


def test_a_send_through_ip1_costs_three_statements(sandbox, settings, device):
    """The claim, the vendor's code marker and the delivery rows."""
    from tests.vendors.helpers import ip1_entry

    settings.SMS_GATEWAYS = {"ip1": ip1_entry(sandbox)}
    with CaptureQueriesContext(connection) as ctx:
        device.generate_challenge()
    statements, _control = split(ctx.captured_queries)
    assert [q.split()[0].upper() for q in statements] == ["UPDATE", "UPDATE", "INSERT"], statements
