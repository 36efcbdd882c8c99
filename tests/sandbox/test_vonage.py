"""Vonage in the sandbox: /sms/json answers 200 with per-message statuses,
as Vonage documents, and the balance check."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from sms_sandbox.vonage import sign

from .calls import TIMEOUT, VONAGE, vonage_send


def test_send_answers_one_message_per_part(sandbox):
    body = vonage_send(sandbox).json()
    assert body["message-count"] == "1"
    [part] = body["messages"]
    assert (part["status"], part["to"], part["message-id"]) == ("0", "4798765432", "0000000000000001")
    assert sandbox.messages[-1]["recipient"] == "+4798765432"

    long = vonage_send(sandbox, {"from": "Acme", "to": "4798765432", "text": "x" * 200}).json()
    assert long["message-count"] == "2" and [m["message-id"] for m in long["messages"]] == [
        "0000000000000002", "0000000000000003"]


def test_json_bodies_are_accepted_too(sandbox):
    response = requests.post(sandbox.base_url("vonage") + "/sms/json", timeout=TIMEOUT,
                             json={"api_key": VONAGE["api_key"], "api_secret": VONAGE["api_secret"],
                                   "from": "Acme", "to": "4798765432", "text": "hi"})
    assert response.json()["messages"][0]["status"] == "0"


def test_text_type_turns_characters_outside_gsm7_into_question_marks(sandbox):
    vonage_send(sandbox, {"from": "Acme", "to": "4798765432", "text": "Kode ✓ 1234"})
    assert sandbox.messages[-1]["text"] == "Kode ? 1234"
    vonage_send(sandbox, {"from": "Acme", "to": "4798765432", "text": "Kode ✓ 1234", "type": "unicode"})
    assert sandbox.messages[-1]["text"] == "Kode ✓ 1234"


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"api_secret": "wrong"}, "4"),
        ({"api_key": ""}, "2"),
        ({"to": ""}, "2"),
        ({"to": "+4798765432"}, "3"),  # Vonage takes the number without "+"
        ({"from": "+4740003410"}, "3"),  # a from number goes without "+" or "00" too
        ({"from": "004740003410"}, "3"),
        ({"from": "Acme Bank AS"}, "15"),
        ({"type": "binary"}, "3"),
    ],
)
def test_refused_messages_answer_200_with_a_status(sandbox, fields, status):
    response = vonage_send(sandbox, {"from": "Acme", "to": "4798765432", "text": "hi", **fields})
    assert response.status_code == 200
    [part] = response.json()["messages"]
    assert part["status"] == status and part["error-text"] and "message-id" not in part
    assert sandbox.messages == []


def test_balance(sandbox):
    url = sandbox.base_url("vonage") + "/account/get-balance"
    ok = requests.get(url, auth=(VONAGE["api_key"], VONAGE["api_secret"]), timeout=TIMEOUT)
    assert ok.status_code == 200 and set(ok.json()) == {"value", "autoReload"}
    assert requests.get(url, auth=(VONAGE["api_key"], "x"), timeout=TIMEOUT).status_code == 401
    assert requests.get(url, params=VONAGE, timeout=TIMEOUT).status_code == 401


def test_other_paths_and_methods(sandbox):
    assert requests.get(sandbox.base_url("vonage") + "/sms/json", timeout=TIMEOUT).status_code == 405
    assert requests.post(sandbox.base_url("vonage") + "/sms/xml", timeout=TIMEOUT).status_code == 404


def test_receipts_go_to_loopback_hosts_only(sandbox):
    vonage_send(sandbox, {"from": "Acme", "to": "4798765432", "text": "hi", "callback": "https://example.com/dlr"})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not sandbox.vendors["vonage"].receipt_counts()["skipped"]:
        time.sleep(0.02)
    assert sandbox.vendors["vonage"].receipt_counts() == {"sent": 0, "failed": 0, "skipped": 1}


def test_sign_is_vonages_md5hash():
    expected = hashlib.md5(b"&a=1_2&b=x_ysecret", usedforsecurity=False).hexdigest()
    assert sign("secret", {"b": "x&y", "a": "1=2"}) == expected


class Receiver:
    """A loopback server that keeps every request it gets: (method, query, content type, body)."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_any(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append((self.command, urlsplit(self.path).query, self.headers.get("Content-Type"), body))
                self.send_response(204)
                self.end_headers()

            do_GET = do_POST = do_any

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/dlr"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("webhook_format", ["GET", "POST", "POST-JSON", None])
def test_receipts_come_in_the_dashboards_webhook_format(sandbox, webhook_format):
    """Vonage's dashboard sends receipts as a query string (GET), a form
    (POST) or JSON (POST-JSON, its recommended format and the default here)."""
    receiver = Receiver()
    try:
        if webhook_format:
            sandbox.vendors["vonage"].set_webhook_format(webhook_format)
        vonage_send(sandbox, {"from": "Acme", "to": "4798765432", "text": "hi", "callback": receiver.url})
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not receiver.received:
            time.sleep(0.02)
    finally:
        receiver.close()
    [(method, query, content_type, body)] = receiver.received
    if webhook_format == "GET":
        assert (method, body) == ("GET", b"")
        params = dict(parse_qsl(query))
    elif webhook_format == "POST":
        assert (method, query, content_type) == ("POST", "", "application/x-www-form-urlencoded")
        params = dict(parse_qsl(body.decode()))
    else:
        assert (method, query, content_type) == ("POST", "", "application/json")
        params = json.loads(body)
    assert params["msisdn"] == "4798765432" and params["status"] == "delivered"
    signed = {name: value for name, value in params.items() if name != "sig"}
    assert params["sig"] == sign(VONAGE["signature_secret"], signed)
    assert sandbox.vendors["vonage"].receipt_counts() == {"sent": 1, "failed": 0, "skipped": 0}


def test_an_unknown_webhook_format_is_refused(sandbox):
    with pytest.raises(ValueError, match="POST-JSON"):
        sandbox.vendors["vonage"].set_webhook_format("PUT")
