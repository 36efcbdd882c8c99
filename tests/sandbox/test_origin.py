"""The sandbox answers only its own loopback names, and its control
endpoints take writes only from its own pages: a site whose domain is
rebound to 127.0.0.1 cannot read codes (DNS rebinding), and a form on
another site cannot switch faults (cross-site request forgery)."""

from __future__ import annotations

import pytest
import requests

from .calls import TIMEOUT


def host_header(sandbox, name: str) -> str:
    return f"{name}:{sandbox.port}"


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LocalHost", "127.0.0.1:PORT", "localhost:PORT"])
def test_loopback_host_names_are_answered(sandbox, name):
    host = name.replace("PORT", str(sandbox.port))
    response = requests.get(sandbox.url + "/messages.json", headers={"Host": host}, timeout=TIMEOUT)
    assert response.status_code == 200


@pytest.mark.parametrize("host", ["rebound.example", "rebound.example:PORT", "127.0.0.1.rebound.example:PORT",
                                  "127.0.0.1:1", "localhost.:PORT", "0x7f000001:PORT"])
@pytest.mark.parametrize("path", ["/", "/messages.json", "/_sandbox/state", "/signicat/oidc/token"])
def test_other_host_names_are_refused(sandbox, host, path):
    sandbox.record("signicat", "+4798765432", "Your code is 123456")
    response = requests.get(sandbox.url + path, headers={"Host": host.replace("PORT", str(sandbox.port))},
                            timeout=TIMEOUT)
    assert response.status_code == 421
    assert b"123456" not in response.content and b"+4798765432" not in response.content


def test_a_request_without_a_host_header_is_refused(sandbox):
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=TIMEOUT)
    connection.putrequest("GET", "/messages.json", skip_host=True)
    connection.endheaders()
    assert connection.getresponse().status == 421
    connection.close()


CROSS_SITE = [
    {"Origin": "http://rebound.example"},
    {"Origin": "null"},
    {"Origin": "http://127.0.0.1:1"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
]


@pytest.mark.parametrize("headers", CROSS_SITE, ids=lambda h: "-".join(f"{k}={v}" for k, v in h.items()))
@pytest.mark.parametrize(
    ("path", "fields"),
    [("/_sandbox/faults", {"vendor": "signicat", "fault": "500"}), ("/_sandbox/reset", {}),
     ("/_sandbox/latency", {"seconds": "5"})],
)
def test_cross_origin_writes_are_refused(sandbox, headers, path, fields):
    sandbox.record("signicat", "+4798765432", "kept")
    response = requests.post(sandbox.url + path, data=fields, headers=headers, timeout=TIMEOUT,
                             allow_redirects=False)
    assert response.status_code == 403
    assert sandbox.faults == {} and sandbox.latency == 0 and len(sandbox.messages) == 1


@pytest.mark.parametrize(
    "headers",
    [{}, {"Origin": "http://ORIGIN"}, {"Sec-Fetch-Site": "same-origin", "Origin": "http://ORIGIN"},
     {"Sec-Fetch-Site": "none"}],
    ids=["program", "same-origin", "same-origin-fetch", "typed-in"],
)
def test_same_origin_and_program_writes_are_accepted(sandbox, headers):
    origin = f"127.0.0.1:{sandbox.port}"
    headers = {name: value.replace("ORIGIN", origin) for name, value in headers.items()}
    response = requests.post(sandbox.url + "/_sandbox/faults", data={"vendor": "zignsec", "fault": "500"},
                             headers=headers, timeout=TIMEOUT, allow_redirects=False)
    assert response.status_code == 303
    assert sandbox.faults == {"zignsec": {"fault": "500", "remaining": None}}


def test_the_inbox_switch_works_when_opened_as_localhost(sandbox):
    """The page's own form posts with the Origin of the name it was opened by."""
    url = f"http://localhost:{sandbox.port}"
    response = requests.post(url + "/_sandbox/faults", data={"vendor": "ip1", "fault": "500"},
                             headers={"Origin": url, "Sec-Fetch-Site": "same-origin"}, timeout=TIMEOUT,
                             allow_redirects=False)
    assert response.status_code == 303 and sandbox.faults["ip1"]["fault"] == "500"
