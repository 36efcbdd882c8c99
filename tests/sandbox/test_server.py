"""Server behaviour: keep-alive, statistics, control endpoints, inbox, limits, lifecycle."""

from __future__ import annotations

import socket
import threading
import time
from datetime import datetime, timedelta

import pytest
import requests

from sms_sandbox import CREDENTIALS, VENDORS, Sandbox
from sms_sandbox.state import VENDOR_CLASSES

from .calls import TIMEOUT, accuauth_send, call, ip1_create, signicat_send, signicat_token, zignsec_send


def test_each_registered_vendor_is_served_under_its_module_name():
    assert tuple(VENDOR_CLASSES) == VENDORS == tuple(CREDENTIALS)
    assert {name: cls.name for name, cls in VENDOR_CLASSES.items()} == {name: name for name in VENDORS}
    assert {cls.__module__ for cls in VENDOR_CLASSES.values()} == {f"sms_sandbox.{name}" for name in VENDORS}


def test_urls(sandbox):
    assert sandbox.url.startswith("http://127.0.0.1:")
    assert sandbox.port > 0
    assert sandbox.base_url("ip1") == sandbox.url + "/ip1"
    with pytest.raises(ValueError):
        sandbox.base_url("messagebird")


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
def test_only_loopback_hosts_are_accepted(host):
    with pytest.raises(ValueError, match="loopback"):
        Sandbox(host)


def test_keep_alive_reuses_one_connection(sandbox):
    with requests.Session() as http:
        assert accuauth_send(sandbox, http=http).status_code == 200
        assert accuauth_send(sandbox, http=http).status_code == 200

    assert sandbox.stats["accuauth"] == {"requests": 2, "connections": 1}


def test_signicat_token_and_send_share_a_connection(sandbox):
    with requests.Session() as http:
        token = signicat_token(sandbox, http)
        assert signicat_send(sandbox, token, http=http).status_code == 200

    stats = sandbox.stats
    assert stats["signicat"] == {"requests": 2, "connections": 1}
    assert stats["signicat_token_requests"] == 1


def test_separate_clients_open_separate_connections(sandbox):
    ip1_create(sandbox)
    ip1_create(sandbox)

    assert sandbox.stats["ip1"] == {"requests": 2, "connections": 2}


def test_messages_are_recorded_with_utc_times_in_order(sandbox):
    before = datetime.now().astimezone()
    accuauth_send(sandbox)
    zignsec_send(sandbox)

    messages = sandbox.messages
    assert [m["vendor"] for m in messages] == ["accuauth", "zignsec"]
    for message in messages:
        assert set(message) == {"vendor", "recipient", "text", "at"}
        at = datetime.fromisoformat(message["at"])
        assert at.utcoffset() == timedelta(0)
        assert at >= before - timedelta(seconds=1)


def test_messages_json_has_e164_recipients_for_every_vendor(sandbox):
    call(sandbox, "signicat")
    call(sandbox, "zignsec")
    accuauth_send(sandbox, {"phone_number": "6281234567890", "content": "code:1,expire_at:5"})
    call(sandbox, "ip1")

    response = requests.get(sandbox.url + "/messages.json", timeout=TIMEOUT)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body == sandbox.messages
    assert [m["recipient"] for m in body] == ["+4798765432", "+46701234567", "+6281234567890", "+46701234567"]


def test_messages_returns_copies(sandbox):
    call(sandbox, "ip1")
    sandbox.messages[0]["text"] = "changed"

    assert sandbox.messages[0]["text"] != "changed"


def test_reset_clears_messages_counters_faults_and_requests(sandbox):
    call(sandbox, "ip1")
    sandbox.set_fault("zignsec", "500")

    sandbox.reset()

    assert sandbox.messages == []
    assert sandbox.faults == {}
    assert sandbox.last_request("ip1") is None
    assert sandbox.stats["ip1"] == {"requests": 0, "connections": 0}


def test_last_request_keeps_raw_body_and_headers(sandbox):
    ip1_create(sandbox, {"Phone": "46701234567", "Length": 6})

    recorded = sandbox.last_request("ip1")
    assert recorded.method == "POST"
    assert recorded.path == "/ip1/api/authentications"
    assert recorded.body == b'{"Phone": "46701234567", "Length": 6}'
    assert recorded.headers["content-type"] == "application/json"
    assert recorded.parsed == {"Phone": "46701234567", "Length": 6}
    with pytest.raises(ValueError):
        sandbox.last_request("nope")


def test_state_endpoint_shows_faults_and_stats(sandbox):
    sandbox.set_fault("ip1", "429", count=2)
    call(sandbox, "ip1")

    state = requests.get(sandbox.url + "/_sandbox/state", timeout=TIMEOUT).json()

    assert state["faults"] == {"ip1": {"fault": "429", "remaining": 1}}
    assert state["stats"]["ip1"]["requests"] == 1
    assert state["vendors"]["zignsec"] == sandbox.base_url("zignsec")


def test_fault_endpoint_takes_json(sandbox):
    response = requests.post(sandbox.url + "/_sandbox/faults",
                             json={"vendor": "zignsec", "fault": "500", "count": 1}, timeout=TIMEOUT)

    assert response.status_code == 200
    assert response.json()["faults"] == {"zignsec": {"fault": "500", "remaining": 1}}
    assert call(sandbox, "zignsec").status_code == 500
    assert call(sandbox, "zignsec").status_code == 200


def test_fault_endpoint_clears_with_null_fault(sandbox):
    sandbox.set_fault("zignsec", "500")

    requests.post(sandbox.url + "/_sandbox/faults", json={"vendor": "zignsec", "fault": None}, timeout=TIMEOUT)

    assert sandbox.faults == {}


def test_fault_endpoint_takes_form_posts_and_redirects_home(sandbox):
    response = requests.post(sandbox.url + "/_sandbox/faults", data={"vendor": "ip1", "fault": "500"},
                             allow_redirects=False, timeout=TIMEOUT)

    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert sandbox.faults == {"ip1": {"fault": "500", "remaining": None}}

    requests.post(sandbox.url + "/_sandbox/faults", data={"vendor": "ip1", "fault": ""}, timeout=TIMEOUT)
    assert sandbox.faults == {}


@pytest.mark.parametrize(
    "body",
    [{"vendor": "nope", "fault": "500"}, {"vendor": "ip1", "fault": "nope"},
     {"vendor": "ip1", "fault": "500", "count": "many"}, {"vendor": "ip1", "fault": "500", "count": 0}],
)
def test_fault_endpoint_rejects_bad_input(sandbox, body):
    response = requests.post(sandbox.url + "/_sandbox/faults", json=body, timeout=TIMEOUT)

    assert response.status_code == 400
    assert response.json()["error"]
    assert sandbox.faults == {}


def test_reset_endpoint(sandbox):
    call(sandbox, "ip1")

    json_reset = requests.post(sandbox.url + "/_sandbox/reset", json={}, timeout=TIMEOUT)
    assert json_reset.status_code == 200
    assert sandbox.messages == []

    form_reset = requests.post(sandbox.url + "/_sandbox/reset", data={"x": "1"}, allow_redirects=False,
                               timeout=TIMEOUT)
    assert form_reset.status_code == 303


def test_inbox_groups_by_phone_newest_first_and_escapes(sandbox):
    accuauth_send(sandbox, {"phone_number": "+6281234567890", "template_id": "otp_short",
                            "content": "code:<script>alert(1)</script>"})
    call(sandbox, "ip1")
    accuauth_send(sandbox, {"phone_number": "+6281234567890", "template_id": "otp_short",
                            "content": "code:second&\"quoted\""})

    response = requests.get(sandbox.url + "/", timeout=TIMEOUT)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    page = response.text
    assert '<meta http-equiv="refresh" content="2">' in page
    assert "<script>" not in page
    assert "Code: &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Code: second&amp;&quot;quoted&quot;" in page
    # The most recently texted phone first, and its newest message first.
    assert page.index("+6281234567890") < page.index("+46701234567")
    assert page.index("second&amp;") < page.index("&lt;script&gt;")
    assert "http://" not in page.replace(sandbox.url, "")


def test_inbox_offers_switches_that_work(sandbox):
    sandbox.set_fault("zignsec", "500")

    page = requests.get(sandbox.url + "/", timeout=TIMEOUT).text

    for vendor in VENDORS:
        assert f'<input type="hidden" name="vendor" value="{vendor}">' in page
    assert "off (fault 500)" in page
    assert page.count("Switch off") == len(VENDORS) - 1 and page.count("Switch on") == 1

    # The browser's form post, followed to the page.
    followed = requests.post(sandbox.url + "/_sandbox/faults", data={"vendor": "zignsec", "fault": ""},
                             timeout=TIMEOUT)
    assert followed.status_code == 200 and "Switch on" not in followed.text


def test_unknown_control_path_is_404(sandbox):
    assert requests.get(sandbox.url + "/nope", timeout=TIMEOUT).status_code == 404
    assert requests.delete(sandbox.url + "/messages.json", timeout=TIMEOUT).status_code == 405


def test_bodies_over_64_kib_are_refused_with_413(sandbox):
    response = requests.post(sandbox.base_url("ip1") + "/api/authentications", data=b"x" * (64 * 1024 + 1),
                             headers={"Content-Type": "application/json"}, timeout=TIMEOUT)

    assert response.status_code == 413
    assert response.headers["Connection"] == "close"


def test_stop_releases_hung_requests_and_closes_promptly():
    sandbox = Sandbox().start()
    sandbox.set_fault("zignsec", "hang")
    errors: list[BaseException] = []

    def hung_call() -> None:
        try:
            call(sandbox, "zignsec", timeout=5)
        except requests.RequestException as exc:
            errors.append(exc)

    client = threading.Thread(target=hung_call)
    client.start()
    idle = requests.Session()
    idle.get(sandbox.url + "/messages.json", timeout=TIMEOUT)  # an idle keep-alive connection
    deadline = time.monotonic() + 2
    while sandbox.stats["zignsec"]["requests"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)

    started = time.monotonic()
    sandbox.stop()
    assert time.monotonic() - started < 1

    client.join(timeout=2)
    assert not client.is_alive()
    assert errors and isinstance(errors[0], requests.ConnectionError)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", sandbox.port), timeout=1).close()
    idle.close()


def test_context_manager_starts_and_stops():
    with Sandbox() as sandbox:
        assert requests.get(sandbox.url + "/messages.json", timeout=TIMEOUT).json() == []
        with pytest.raises(RuntimeError):
            sandbox.start()
    with pytest.raises(requests.ConnectionError):
        requests.get(sandbox.url + "/messages.json", timeout=TIMEOUT)
    with pytest.raises(RuntimeError):
        sandbox.start()


def test_ipv6_loopback():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        sandbox = Sandbox("::1").start()
    except OSError:
        pytest.skip("::1 is not available")
    with sandbox:
        assert sandbox.url.startswith("http://[::1]:")
        assert requests.get(sandbox.url + "/messages.json", timeout=TIMEOUT).json() == []


def test_latency_delays_vendor_answers_but_not_control_pages(sandbox, monkeypatch):
    from sms_sandbox import http as server

    slept = []
    monkeypatch.setattr(server, "_sleep", slept.append)
    response = requests.post(sandbox.url + "/_sandbox/latency", json={"seconds": 0.02}, timeout=TIMEOUT)
    assert response.status_code == 200 and response.json()["latency"] == 0.02

    assert call(sandbox, "ip1").status_code == 200
    requests.get(sandbox.url + "/messages.json", timeout=TIMEOUT)
    assert slept == [0.02]

    sandbox.set_latency(0)
    call(sandbox, "ip1")
    assert slept == [0.02]


def test_latency_does_not_delay_refused_connections(sandbox, monkeypatch):
    from sms_sandbox import http as server

    slept = []
    monkeypatch.setattr(server, "_sleep", slept.append)
    sandbox.set_latency(0.5)
    sandbox.set_fault("ip1", "refuse", count=1)
    with pytest.raises(requests.ConnectionError):
        call(sandbox, "ip1")
    assert slept == []


@pytest.mark.parametrize("body", [{"seconds": -1}, {"seconds": 11}, {"seconds": "soon"}, {"seconds": True}, [1]])
def test_latency_endpoint_rejects_bad_input(sandbox, body):
    response = requests.post(sandbox.url + "/_sandbox/latency", json=body, timeout=TIMEOUT)

    assert response.status_code == 400
    assert "seconds" in response.json()["error"] or "latency" in response.json()["error"]
    assert sandbox.latency == 0


def test_latency_is_checked_when_constructed():
    with pytest.raises(ValueError, match="latency"):
        Sandbox(latency=-0.1)
