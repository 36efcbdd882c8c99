"""HTTPBackend prepares each call as requests' Session.request would, without
its per-call merging of environment and session settings."""

import socket
import threading

import pytest
import requests

from django_sms_gateway.backends.http import USER_AGENT, HTTPBackend
from django_sms_gateway.exceptions import RequestRejected


class Backend(HTTPBackend):
    default_base_url = "https://vendor.example"

    def send(self, message, *, timeout):  # pragma: no cover - not sent here
        raise NotImplementedError


@pytest.mark.parametrize(
    "kwargs",
    [
        {"json": {"to": "+4798765432", "text": "Kode 123456 – ÆØÅ"}},
        {"data": {"grant_type": "client_credentials", "scope": "client.sms.send"}, "auth": ("id", "secret")},
        {"json": {"a": 1}, "headers": {"X-Api-Key": "k", "Accept": "application/problem+json"}},
        {"headers": {"accept": "text/plain", "User-Agent": None}},
        {},
    ],
    ids=["json", "form-with-basic-auth", "extra-headers", "lower-case-and-removed-headers", "bare-get"],
)
@pytest.mark.parametrize("cookie", [True, False], ids=["cookie", "no-cookie"])
def test_prepared_like_session_request(kwargs, cookie):
    backend = Backend("vendor")
    if cookie:
        backend.session.cookies.set("lb", "node-2", domain="vendor.example")
    url = backend.url("/api/messages")

    ours = backend.prepare("POST", url, **kwargs)
    theirs = backend.session.prepare_request(requests.Request("POST", url, **kwargs))

    assert (ours.method, ours.url, ours.body) == (theirs.method, theirs.url, theirs.body)
    assert dict(ours.headers) == dict(theirs.headers)
    if "User-Agent" not in kwargs.get("headers", {}):
        assert ours.headers["User-Agent"] == USER_AGENT
    assert ours.headers.get("Cookie") == ("lb=node-2" if cookie else None)


class Redirecting:
    """A loopback server answering one request with a 302 elsewhere."""

    def __init__(self, body: bytes = b'{"moved": true}') -> None:
        self.body = body
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _addr = self.listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 302 Found\r\nLocation: https://elsewhere.example/x\r\nContent-Type: application/json\r\n"
                b"Set-Cookie: lb=node-3; Path=/\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                % len(self.body) + self.body
            )

    def close(self) -> None:
        self.listener.close()


def test_a_redirect_is_an_answer_like_any_other():
    """A vendor's 3xx is not followed; it comes back as a non-2xx answer that
    raise_for_status maps to a GatewayError (not an AttributeError from
    requests' redirect bookkeeping on a request prepared without cookies)."""
    server = Redirecting()
    backend = Backend("vendor", {"base_url": f"http://127.0.0.1:{server.port}"})
    try:
        response = backend.request("POST", "/api/messages", timeout=2, json={"a": 1})
    finally:
        server.close()
        backend.close()
    assert response.status == 302
    assert backend.session.cookies.get("lb") == "node-3"  # kept for the next call, as Session.send does
    with pytest.raises(RequestRejected):
        backend.raise_for_status(response)


def test_credentials_in_the_base_url_are_sent_as_basic_auth():
    backend = Backend("vendor", {"base_url": "https://user:p%40ss@vendor.example/api"})
    url = backend.url("/messages")

    ours = backend.prepare("POST", url, json={})
    theirs = backend.session.prepare_request(requests.Request("POST", url, json={}))

    assert ours.headers["Authorization"] == theirs.headers["Authorization"]
    assert ours.headers["Authorization"].startswith("Basic ")


def test_answers_are_asked_for_uncompressed():
    prepared = Backend("vendor").prepare("GET", "https://vendor.example/x")
    assert prepared.headers["Accept-Encoding"] == "identity"
