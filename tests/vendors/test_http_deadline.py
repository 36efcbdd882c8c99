"""Every vendor call ends by its deadline whatever the vendor sends: a status
line or headers trickled a byte at a time, interim ``100 Continue`` answers
without end, header lines without end. Each of these keeps every single read
short, so socket timeouts alone never fire; the call is cut off at its
deadline and reported as a timeout (what the breaker counts).

The hostile server gives up by itself after 8 s: a call that was not cut off
ends with a broken connection instead, and the test fails on its type."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from django_sms_gateway.exceptions import GatewayConnectionError, GatewayTimeout

from .helpers import LOCMEM_ENTRY, Probe, gateway_entry
from .hostile import Hostile, endless, trickled

ANSWER = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}'
HOSTILE = {
    "trickled-status-line": lambda: trickled(b"HTTP/1.1 200 OK" + b" " * 400 + b"\r\n"),
    "trickled-headers": lambda: trickled(b"HTTP/1.1 200 OK\r\nContent-Type: application/json" + b" " * 400),
    "endless-100-continue": lambda: endless(b"HTTP/1.1 100 Continue\r\n\r\n"),
    "endless-headers": lambda: endless(b"X-Padding: x\r\n", head=b"HTTP/1.1 200 OK\r\n"),
    "trickled-body": lambda: trickled(ANSWER[:-2] + b"{" + b" " * 400),
}


@contextmanager
def probe_at(server: Hostile) -> Iterator[Probe]:
    """A backend calling ``server``; both closed afterwards."""
    backend = Probe("probe", {"base_url": server.url})
    try:
        yield backend
    finally:
        backend.close()
        server.close()


@pytest.mark.parametrize("answer", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_answer_is_cut_off_at_the_deadline(answer):
    server = Hostile(answer)
    with probe_at(server) as backend, pytest.raises(GatewayTimeout) as info:
        backend.request("POST", "/x", timeout=0.5, json={})
    assert info.value.reason == "timeout" and not info.value.not_sent
    assert server.hung_up_on.wait(5)  # our side closed the connection: no socket left reading


def test_the_backend_works_again_after_a_call_was_cut_off():
    """The cut-off connection is dropped, not put back into the pool."""
    with probe_at(Hostile(HOSTILE["endless-100-continue"])) as backend:
        with pytest.raises(GatewayTimeout):
            backend.request("POST", "/x", timeout=0.3, json={})
        friendly = Hostile(lambda: iter([ANSWER]), pause=0)
        response = backend.request("POST", f"{friendly.url}/x", timeout=2, json={})
        friendly.close()
    assert (response.status, response.body) == (200, b"{}")


def test_a_vendor_that_hangs_up_is_a_connection_error_not_a_timeout():
    with probe_at(Hostile(lambda: iter([b"HTTP/1.1 2"]), lasts=0.1)) as backend, \
            pytest.raises(GatewayConnectionError) as info:
        backend.request("POST", "/x", timeout=5, json={})
    assert info.value.reason == "connection failed"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return str(cert), context


@pytest.mark.parametrize("answer", ["trickled-status-line", "endless-100-continue", "trickled-body"])
def test_a_hostile_answer_over_tls_is_cut_off_at_the_deadline(certificate, answer):
    cert, context = certificate
    server = Hostile(HOSTILE[answer], tls=context)
    with probe_at(server) as backend:
        backend.session.verify = cert
        with pytest.raises(GatewayTimeout):
            backend.request("POST", "/x", timeout=0.5, json={})
        assert server.hung_up_on.wait(5)


@pytest.mark.django_db
def test_a_login_held_by_a_hostile_vendor_falls_back_and_opens_its_breaker(sms_outbox):
    """Through the dispatcher: the cut-off call is a timeout for the breaker,
    the next gateway delivers, and the next login does not reach the vendor."""
    from django.test import override_settings

    from django_sms_gateway.dispatch import send_code

    server = Hostile(HOSTILE["endless-100-continue"])
    entry = gateway_entry("zignsec", None, base_url=server.url, timeout=0.5)
    try:
        with override_settings(SMS_GATEWAYS={"zignsec": {**entry, "BREAKER_THRESHOLD": 1},
                                             "backup": LOCMEM_ENTRY}):
            first = send_code("+4798765432", "123456")
            second = send_code("+4798765432", "654321")
    finally:
        server.close()
    assert [(a.alias, a.outcome, a.reason) for a in first.attempts] == [
        ("zignsec", "failed", "timeout"), ("backup", "sent", "accepted"),
    ]
    assert [(a.alias, a.outcome) for a in second.attempts] == [("zignsec", "skipped"), ("backup", "sent")]
    assert len(sms_outbox) == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_the_deadline_holds_in_a_forked_worker():
    """A pre-forking server (gunicorn --preload) forks after the watchdog
    thread started; the child starts its own."""
    first = Hostile(HOSTILE["endless-100-continue"])
    backend = Probe("probe", {"base_url": first.url})
    with pytest.raises(GatewayTimeout):
        backend.request("GET", "/", timeout=0.3)
    second = Hostile(HOSTILE["endless-100-continue"])
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        try:
            backend.request("GET", f"{second.url}/", timeout=0.3)
        except GatewayTimeout:
            os._exit(0)
        except BaseException:
            os._exit(2)
        os._exit(1)
    try:
        _pid, status = os.waitpid(pid, 0)
    finally:
        backend.close()
        first.close()
        second.close()
    assert os.waitstatus_to_exitcode(status) == 0
