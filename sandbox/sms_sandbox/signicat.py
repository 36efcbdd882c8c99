"""Signicat SMS API: OAuth2 client-credentials token plus ``POST /sms/messages``.

As Signicat documents it ("SMS API", https://developer.signicat.com/enterprise/apis/sms-api/,
and "Accessing Signicat REST services",
https://developer.signicat.com/enterprise/apis/accessing-rest-services.html):

* ``POST /oidc/token`` with HTTP Basic ``client_id:client_secret`` and the form
  body ``grant_type=client_credentials&scope=client.sms.send`` answers
  ``{"access_token", "token_type": "Bearer", "scope", "expires_in"}``.
* ``POST /sms/messages`` with ``Authorization: Bearer <token>`` and the JSON
  ``{"sender", "recipient", "message"}`` answers 200 with an empty body;
  invalid fields -> 400 ``application/problem+json`` with ``violations``.
* A token requested without the ``client.sms.send`` scope is issued, but the
  SMS API refuses it with "an HTTP Client Error" (403 here).

*Inferred*: the token endpoint's errors follow RFC 6749 (wrong credentials
-> 401 ``{"error": "invalid_client"}``, another grant -> 400
``{"error": "unsupported_grant_type"}``); a missing, unknown or expired token
-> 401. Fault variants ``json-body`` (200 with a JSON body) and ``204`` are
answers a client must not take as Signicat's yes.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from types import MappingProxyType
from typing import Any

from .base import E164, SENDER, Recorder, Request, Response, Vendor, basic_credentials, same
from .segments import segments

__all__ = ["CREDENTIALS", "SCOPE", "VENDOR", "Signicat"]

#: Client credentials the sandbox accepts at ``/oidc/token``.
CREDENTIALS = MappingProxyType(
    {"client_id": "sandbox-signicat-client", "client_secret": "sandbox-signicat-secret"}
)
#: The scope a token needs to send SMS.
SCOPE = "client.sms.send"

TOKEN_ROUTE = "/oidc/token"  # noqa: S105 (a path, not a password)
SEND_ROUTE = "/sms/messages"
_PROBLEM = "application/problem+json"


def _property(name: str, rule: str) -> str:
    return f"The sms property '{name}' {rule}"


def validate_sms(payload: Any) -> list[str]:
    """Violation messages for an Sms object; empty when it may be sent."""
    if not isinstance(payload, dict):
        return ["The request body has to be an Sms object"]
    violations = []
    for name in ("sender", "recipient", "message"):
        value = payload.get(name)
        if value is None:
            violations.append(_property(name, "has to be set"))
        elif not isinstance(value, str):
            violations.append(_property(name, "has to be a string"))
    sender, recipient, message = (payload.get(k) for k in ("sender", "recipient", "message"))
    if isinstance(sender, str) and not SENDER.fullmatch(sender):
        violations.append(
            _property("sender", "must be numeric with up to 15 digits, or alphanumeric "
                      "with 1 to 11 characters in the range [A-Za-z0-9 ]")
        )
    if isinstance(recipient, str) and not E164.fullmatch(recipient):
        violations.append(_property("recipient", "must be a valid E.164 phone number"))
    if isinstance(message, str):
        if not message:
            violations.append(_property("message", "must have at least one character"))
        elif segments(message) != 1:
            violations.append(
                _property("message", "must fit in one text message "
                          "(160 GSM-7 characters or 70 UCS-2 symbols)")
            )
    return violations


def problem(request: Request, status: int, violations: list[str] | None = None,
            headers: dict[str, str] | None = None) -> Response:
    """A Signicat problem document; 400 is the documented constraint violation."""
    phrase = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "instance": request.base_url + request.path,
        "method": request.method,
        "status": status,
        "type": "base:constraint-violation-problem" if status == 400 else "about:blank",
        "title": f"{status} {phrase}",
    }
    if status == 400:
        body["violations"] = [{"message": m} for m in violations or []]
    return Response.json(status, body, content_type=_PROBLEM, headers=headers)


def oauth_error(status: int, error: str, headers: dict[str, str] | None = None) -> Response:
    """An RFC 6749 error answer of the token endpoint."""
    return Response.json(status, {"error": error}, headers={"Cache-Control": "no-store", **(headers or {})})


class Signicat(Vendor):
    """Signicat token endpoint and SMS API. Fault keys: ``signicat`` covers
    ``/sms/messages``, ``signicat-token`` covers ``/oidc/token``."""

    name = "signicat"
    fault_variants = {"signicat": ("400", "json-body", "204"), "signicat-token": ("400",)}

    def __init__(self, record: Recorder, *, token_ttl: int = 600,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(record)
        self._token_ttl = token_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[float, frozenset[str]]] = {}

    def fault_key(self, route: str) -> str:
        return "signicat-token" if route == TOKEN_ROUTE else "signicat"

    def reset(self) -> None:
        with self._lock:
            self._tokens.clear()

    def handle(self, request: Request) -> Response:
        if request.route == TOKEN_ROUTE:
            if request.method != "POST":
                return oauth_error(405, "invalid_request", {"Allow": "POST"})
            return self._issue_token(request)
        if request.route == SEND_ROUTE:
            if request.method != "POST":
                return problem(request, 405, headers={"Allow": "POST"})
            return self._send(request)
        return problem(request, 404)

    def fault_response(self, key: str, fault: str, request: Request) -> Response:
        if fault == "json-body":
            return Response.json(200, {"status": "queued"})
        if fault == "204":
            return Response(204)
        status = int(fault)
        retry = {"Retry-After": "1"} if status == 429 else None
        if key == "signicat-token":
            error = {400: "invalid_request", 401: "invalid_client",
                     429: "temporarily_unavailable"}.get(status, "server_error")
            return oauth_error(status, error, retry)
        return problem(request, status, ["The sms property 'message' has to be set"], retry)

    def _issue_token(self, request: Request) -> Response:
        credentials = basic_credentials(request.headers.get("Authorization", ""))
        if credentials is None or not (
            same(credentials[0], CREDENTIALS["client_id"])
            & same(credentials[1], CREDENTIALS["client_secret"])
        ):
            return oauth_error(401, "invalid_client", {"WWW-Authenticate": 'Basic realm="signicat"'})
        form = request.parsed() if request.content_type == "application/x-www-form-urlencoded" else None
        if not isinstance(form, dict) or "grant_type" not in form:
            return oauth_error(400, "invalid_request")
        if form["grant_type"] != "client_credentials":
            return oauth_error(400, "unsupported_grant_type")
        scopes = form.get("scope", "").split()
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = self._clock()
            self._tokens = {t: v for t, v in self._tokens.items() if v[0] > now}
            self._tokens[token] = (now + self._token_ttl, frozenset(scopes))
        return Response.json(
            200,
            {"access_token": token, "token_type": "Bearer", "scope": " ".join(scopes),
             "expires_in": self._token_ttl},
            headers={"Cache-Control": "no-store"},
        )

    def _token_scopes(self, header: str) -> frozenset[str] | None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        with self._lock:
            entry = self._tokens.get(token.strip())
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def _send(self, request: Request) -> Response:
        scopes = self._token_scopes(request.headers.get("Authorization", ""))
        if scopes is None:
            return problem(request, 401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if SCOPE not in scopes:
            return problem(request, 403)
        payload = request.parsed() if request.content_type == "application/json" else None
        violations = validate_sms(payload)
        if violations or payload is None:
            return problem(request, 400, violations)
        self._record(self.name, payload["recipient"], payload["message"])
        return Response(200)


VENDOR = Signicat
