"""What HTTPBackend puts on the wire, seen by a loopback server: the session's
headers (a None value removes one), credentials written in the base URL, no
proxy from the environment, uncompressed answers asked for, a redirect
returned as an answer, never followed, and the vendor's cookies sent back."""

from __future__ import annotations

import base64

import pytest

from django_sms_gateway.backends.http import USER_AGENT
from django_sms_gateway.exceptions import RequestRejected

from .helpers import Probe
from .hostile import Hostile

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{\"ok\": true}"
REDIRECT = (
    b"HTTP/1.1 302 Found\r\nLocation: https://elsewhere.example/x\r\nContent-Type: application/json\r\n"
    b"Set-Cookie: lb=node-3; Path=/\r\nContent-Length: 15\r\n\r\n{\"moved\": true}"
)


def call(base_url: str | None = None, answer: bytes = OK, **kwargs):
    server = Hostile(lambda: iter([answer]), pause=0)
    backend = Probe("probe", {"base_url": base_url or server.url})
    try:
        response = backend.request("POST", f"{server.url}/api/messages", timeout=2, **kwargs)
    finally:
        backend.close()
        server.close()
    head, _sep, body = server.request.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, _sep, value in (line.partition(": ") for line in lines[1:])}
    return response, lines[0], headers, body, backend


def test_the_session_headers_are_sent_and_a_none_value_removes_one():
    response, request_line, headers, body, _backend = call(
        json={"to": "+4798765432"}, headers={"X-Api-Key": "k", "Accept": None},
    )
    assert request_line == "POST /api/messages HTTP/1.1"
    assert headers["user-agent"] == USER_AGENT and headers["x-api-key"] == "k"
    assert "accept" not in headers
    assert headers["accept-encoding"] == "identity"  # answers come uncompressed: the size bound is what was sent
    assert body == b'{"to": "+4798765432"}'
    assert (response.status, response.body) == (200, b'{"ok": true}')


def test_credentials_in_the_base_url_are_sent_as_basic_auth():
    server = Hostile(lambda: iter([OK]), pause=0)
    backend = Probe("probe", {"base_url": f"http://user:p%40ss@127.0.0.1:{server.port}/api"})
    try:
        backend.request("POST", "/messages", timeout=2, json={})
    finally:
        backend.close()
        server.close()
    assert b"Authorization: Basic " + base64.b64encode(b"user:p@ss") in server.request


def test_proxies_from_the_environment_are_not_used(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    response, request_line, _headers, _body, _backend = call(json={})
    assert response.status == 200 and request_line.startswith("POST /api/messages ")  # not a proxy's absolute URL


def test_a_redirect_is_an_answer_like_any_other():
    response, _line, _headers, _body, backend = call(answer=REDIRECT, json={"a": 1})
    assert response.status == 302 and response.body == b'{"moved": true}'
    assert backend.session.cookies.get("lb") == "node-3"  # kept for the next call
    with pytest.raises(RequestRejected):
        backend.raise_for_status(response)


def test_a_cookie_the_vendor_set_goes_back_with_the_next_call():
    server = Hostile(lambda: iter([REDIRECT]), pause=0)
    backend = Probe("probe", {"base_url": server.url})
    try:
        backend.request("POST", "/first", timeout=2, json={})
        server.close()
        server = Hostile(lambda: iter([OK]), pause=0)
        backend.request("POST", f"{server.url}/second", timeout=2, json={})
    finally:
        backend.close()
        server.close()
    assert b"\r\nCookie: lb=node-3\r\n" in server.request


def test_an_argument_the_request_does_not_take_is_named():
    backend = Probe("probe", {"base_url": "http://127.0.0.1:9"})
    try:
        with pytest.raises(TypeError, match="unexpected keyword arguments: allow_redirects, stream"):
            backend.request("POST", "/x", timeout=1, stream=True, allow_redirects=True)
    finally:
        backend.close()
