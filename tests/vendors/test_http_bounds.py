"""Vendor answers that never end: an endless body is cut off at
``max_response_bytes`` and a trickling one at the timeout, whatever the
headers claim. (The sandbox's ``oversized`` and ``hang`` faults, tested per
vendor, send a Content-Length or nothing at all; these servers do neither.)"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from django_sms_gateway.exceptions import GatewayTimeout, GatewayUnavailable

from .helpers import Probe


class Endless:
    """A loopback server answering every request with ``status`` and a body that
    never ends: chunked 8 KiB pieces, or one byte every ``pause`` seconds."""

    def __init__(self, *, trickle: bool, status: bytes = b"200 OK") -> None:
        self.trickle = trickle
        self.status = status
        self.sent = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _addr = self.listener.accept()
        with conn:
            conn.recv(65536)
            head = b"HTTP/1.1 " + self.status + b"\r\nContent-Type: application/json\r\n"
            if self.status.startswith(b"3"):
                head += b"Location: https://elsewhere.example/x\r\n"
            head += b"Content-Length: 100\r\n\r\n" if self.trickle else b"Transfer-Encoding: chunked\r\n\r\n"
            try:
                conn.sendall(head)
                while not self.stop.is_set():
                    if self.trickle:
                        conn.sendall(b" ")
                        self.sent += 1
                        time.sleep(0.05)
                    else:
                        conn.sendall(b"2000\r\n" + b"x" * 8192 + b"\r\n")
                        self.sent += 8192
            except OSError:
                pass  # the client hung up: what we want

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


@pytest.mark.parametrize("status", [b"200 OK", b"302 Found"], ids=["answer", "redirect"])
@pytest.mark.parametrize("trickle, expected", [(False, GatewayUnavailable), (True, GatewayTimeout)],
                         ids=["endless-chunked", "trickle"])
def test_endless_answers_are_cut_off(trickle, expected, status):
    """Redirects too: requests' Session.send reads a 3xx answer's whole body
    for its redirect bookkeeping, even with redirects off; ours is bounded."""
    server = Endless(trickle=trickle, status=status)
    backend = Probe("probe", {"base_url": f"http://127.0.0.1:{server.port}"})
    try:
        started = time.monotonic()
        with pytest.raises(expected):
            backend.request("POST", "/x", timeout=0.5)
        elapsed = time.monotonic() - started
    finally:
        server.close()
        backend.close()
    assert elapsed < 3  # bounded by the timeout, not by the server (a sanity bound, not a timing assert)
