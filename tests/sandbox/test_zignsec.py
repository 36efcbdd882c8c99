"""ZignSec: sessions, status progression, request rules and the signed webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests

from .calls import TIMEOUT, ZIGNSEC, zignsec_payload, zignsec_send


def session_status(sandbox, session_id, key=ZIGNSEC["api_key"]):
    return requests.get(f"{sandbox.base_url('zignsec')}/core/api/sessions/{session_id}",
                        headers={"Authorization": key}, timeout=TIMEOUT)


def wait_for(predicate, seconds=3.0):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_send_answers_a_pending_session_and_records_the_message(sandbox):
    response = zignsec_send(sandbox)

    assert response.status_code == 200
    data = response.json()["data"]
    assert set(data) == {"id", "status"}
    assert data["status"] == "pending"
    assert uuid.UUID(data["id"]).version == 4
    [message] = sandbox.messages
    assert (message["vendor"], message["recipient"], message["text"]) == ("zignsec", "+46701234567",
                                                                         "Your code is 1234")
    assert sandbox.last_request("zignsec").headers["Authorization"] == ZIGNSEC["api_key"]


def test_status_goes_from_pending_to_delivered(sandbox):
    session_id = zignsec_send(sandbox).json()["data"]["id"]

    first = session_status(sandbox, session_id)
    assert first.status_code == 200
    assert first.json() == {"data": {
        "request_data": {
            "metadata": {"from": "+123456789", "to": "+46701234567", "message": "Your code is 1234",
                         "max_message_parts": 1},
            "relay_state": "user-42",
            "webhook": None,
        },
        "id": session_id,
        "number_of_message_parts": 1,
        "status": "pending",
    }}
    wait_for(lambda: session_status(sandbox, session_id).json()["data"]["status"] == "delivered")


def test_number_of_message_parts_counts_segments(sandbox):
    payload = zignsec_payload(message="x" * 200, max_message_parts=2)
    session_id = zignsec_send(sandbox, payload).json()["data"]["id"]

    assert session_status(sandbox, session_id).json()["data"]["number_of_message_parts"] == 2


def test_unknown_session_is_404(sandbox):
    assert session_status(sandbox, str(uuid.uuid4())).status_code == 404


def test_zs_product_key_header_is_taken_too(sandbox):
    response = requests.post(f"{sandbox.base_url('zignsec')}/core/api/sessions/two_factor_auth/sms",
                             json=zignsec_payload(), headers={"Zs-Product-Key": ZIGNSEC["api_key"]},
                             timeout=TIMEOUT)
    assert response.status_code == 200 and response.json()["data"]["status"] == "pending"
    bad = requests.post(f"{sandbox.base_url('zignsec')}/core/api/sessions/two_factor_auth/sms",
                        json=zignsec_payload(), headers={"Zs-Product-Key": "wrong"}, timeout=TIMEOUT)
    assert bad.status_code == 401


@pytest.mark.parametrize(("fault", "status", "data_keys"), [("no-status", 200, {"id"}), ("202", 202, {"id", "status"})])
def test_answers_that_are_not_a_yes_are_fault_variants(sandbox, fault, status, data_keys):
    sandbox.set_fault("zignsec", fault)
    response = zignsec_send(sandbox)
    assert response.status_code == status and set(response.json()["data"]) == data_keys
    assert sandbox.messages == []


@pytest.mark.parametrize("key", ["", "wrong", f"Bearer {ZIGNSEC['api_key']}"])
def test_wrong_or_scheme_prefixed_key_is_401(sandbox, key):
    assert zignsec_send(sandbox, key=key).status_code == 401
    assert session_status(sandbox, str(uuid.uuid4()), key=key).status_code == 401
    assert sandbox.messages == []


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"relay_state": "x"},
        {"metadata": "not an object"},
        zignsec_payload(**{"from": None}),
        zignsec_payload(to=None),
        zignsec_payload(to="46701234567"),
        zignsec_payload(to="+46 70 123"),
        zignsec_payload(message=""),
        zignsec_payload(message=None),
        zignsec_payload(max_message_parts=None),
        zignsec_payload(max_message_parts=0),
        zignsec_payload(max_message_parts="1"),
        zignsec_payload(max_message_parts=True),
        zignsec_payload(message="x" * 161, max_message_parts=1),
        zignsec_payload(message="ç" * 135, max_message_parts=2),
        {**zignsec_payload(), "relay_state": 42},
        {**zignsec_payload(), "webhook": "ftp://127.0.0.1/hook"},
        {**zignsec_payload(), "webhook": "not a url"},
    ],
)
def test_ill_formed_requests_are_400(sandbox, payload):
    response = zignsec_send(sandbox, payload)

    assert response.status_code == 400
    assert response.json()["errors"][0]["description"]
    assert sandbox.messages == []


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.put((self.path, dict(self.headers), body))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook_receiver() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    server.received = queue.Queue()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_webhook_is_signed_and_describes_the_delivery(sandbox, webhook_receiver):
    url = f"http://127.0.0.1:{webhook_receiver.server_port}/hooks/zignsec?tenant=1"
    session_id = zignsec_send(sandbox, {**zignsec_payload(), "webhook": url}).json()["data"]["id"]

    path, headers, body = webhook_receiver.received.get(timeout=3)

    assert path == "/hooks/zignsec?tenant=1"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "event": "session_updated",
        "id": session_id,
        "relay_state": "user-42",
        "result": {"status": "delivered", "errors": [], "number_of_message_parts": 1},
    }
    fields = dict(part.split("=", 1) for part in headers["X-ZignSec-Hmac-SHA256"].split(","))
    assert abs(int(fields["t"]) - time.time()) < 10
    expected = hmac.new(ZIGNSEC["webhook_secret"].encode(), fields["t"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)
    wait_for(lambda: sandbox.stats["zignsec_webhooks"]["sent"] == 1)


def test_webhook_to_a_host_that_is_not_loopback_is_never_sent(sandbox):
    zignsec_send(sandbox, {**zignsec_payload(), "webhook": "https://webhook.example.com/hook"})

    wait_for(lambda: sandbox.stats["zignsec_webhooks"] == {"sent": 0, "failed": 0, "skipped": 1})


def test_webhook_errors_are_swallowed_and_counted(sandbox):
    # A port that was just free: nothing listens there.
    closed = HTTPServer(("127.0.0.1", 0), _Hook)
    port = closed.server_port
    closed.server_close()

    zignsec_send(sandbox, {**zignsec_payload(), "webhook": f"http://127.0.0.1:{port}/hook"})

    wait_for(lambda: sandbox.stats["zignsec_webhooks"]["failed"] == 1)


@pytest.mark.parametrize(("change", "code"), [
    ({"to": "98765432"}, "INVALID_PHONE"),
    ({"max_message_parts": 0}, "INVALID_REQUEST"),
])
def test_errors_carry_zignsecs_published_error_object(sandbox, change, code):
    payload = zignsec_payload()
    payload["metadata"].update(change)
    response = zignsec_send(sandbox, payload)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["code"] == code and error["description"]
    assert session_status(sandbox, str(uuid.uuid4())).json()["errors"][0]["code"] == "SESSION_NOT_FOUND"
