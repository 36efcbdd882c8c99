"""HTTPBackend prepares each call as requests' Session.request would, without
its per-call merging of environment and session settings."""

import pytest
import requests

from django_sms_gateway.backends.http import USER_AGENT, HTTPBackend


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
        {},
    ],
    ids=["json", "form-with-basic-auth", "extra-headers", "bare-get"],
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
    assert ours.headers["User-Agent"] == USER_AGENT
    assert ours.headers.get("Cookie") == ("lb=node-2" if cookie else None)
