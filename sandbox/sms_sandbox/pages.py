"""The sandbox's own pages: the inbox, ``/messages.json`` and the control endpoints.

``GET /`` shows received SMS as a phone inbox with a switch per vendor (and,
for a vendor that sends delivery receipts, the delivery faults "silent" and
"undelivered": it accepts the SMS, which never arrives): plain
HTML with inline CSS and no external assets, refreshed every two seconds;
everything that comes from requests is HTML-escaped. ``/_sandbox/state``,
``/_sandbox/reset``, ``/_sandbox/faults`` and ``/_sandbox/latency`` read and
change the :class:`~.state.SandboxState`. The HTTP handler
(:mod:`.http`) checks the Host and Origin of these requests first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from .base import Response, parse_body
from .state import FAULTS, VENDORS, SandboxState

__all__ = ["CONTROL_PATHS", "DELIVERY_FAULTS", "VendorStatus", "answer_control", "render_inbox"]

#: Delivery faults (accept the SMS, never deliver it) -> what the page says.
DELIVERY_FAULTS = {"silent": "accepts, never delivers, no receipt",
                   "undelivered": "accepts, then reports it undelivered"}

#: Paths the sandbox answers itself (any other is a vendor's or a 404).
CONTROL_PATHS = ("/", "/messages.json", "/_sandbox/state", "/_sandbox/reset", "/_sandbox/faults",
                 "/_sandbox/latency")

_STYLE = """
body{font:15px/1.4 system-ui,sans-serif;margin:0;background:#eef0f3;color:#1d232a}
header{background:#1d232a;color:#fff;padding:12px 24px}
header h1{font-size:18px;margin:0}
main{display:flex;gap:24px;padding:24px;align-items:flex-start;flex-wrap:wrap}
section.vendors{background:#fff;border-radius:8px;padding:16px;min-width:320px}
h2{font-size:15px;margin:0 0 12px}
.vendor{display:flex;align-items:center;gap:8px;padding:6px 0;border-top:1px solid #e3e6ea}
.vendor .name{font-weight:600;width:80px}
.vendor .line{flex:1;color:#55606c;font-size:13px}
.dot{width:10px;height:10px;border-radius:50%;background:#2e9d57}
.dot.off{background:#d0413a}
form{margin:0}
button{font:inherit;font-size:13px;padding:3px 10px;border-radius:4px;
border:1px solid #a9b1ba;background:#f6f7f9;cursor:pointer}
.phones{display:flex;gap:16px;flex-wrap:wrap;flex:1}
.phone{background:#fff;border:8px solid #1d232a;border-radius:24px;width:300px;padding:12px}
.phone h3{font-size:14px;text-align:center;margin:0 0 10px}
.phone ol{list-style:none;margin:0;padding:0}
.sms{background:#e5e8ec;border-radius:14px;padding:8px 12px;margin:0 0 8px}
.sms p{margin:0;white-space:pre-wrap;overflow-wrap:anywhere}
.sms small{display:block;color:#6b7682;font-size:11px;margin-top:4px}
.empty{color:#6b7682}
"""


@dataclass(frozen=True)
class VendorStatus:
    """What the page shows for one vendor: its base URL, active fault
    (``{"fault", "remaining"}`` or None) and request count."""

    name: str
    base_url: str
    fault: Mapping[str, Any] | None
    requests: int
    #: The delivery faults this vendor can be switched to.
    delivery_faults: tuple[str, ...] = ()


def _vendor_row(status: VendorStatus) -> str:
    fault = status.fault
    if fault is None:
        state, dot, next_fault, label = "on", "", "500", "Switch off"
    else:
        left = fault["remaining"]
        suffix = "" if left is None else f" for the next {left} request{'s' * (left != 1)}"
        name = fault["fault"]
        state = (f"{DELIVERY_FAULTS[name]} (fault {name}{suffix})" if name in DELIVERY_FAULTS
                 else f"off (fault {name}{suffix})")
        dot, next_fault, label = " off", "", "Switch on"
    requests = f"{status.requests} request{'s' * (status.requests != 1)}"
    return (
        '<div class="vendor">'
        f'<span class="dot{dot}"></span><span class="name">{escape(status.name)}</span>'
        f'<span class="line">{escape(state)} &middot; {requests}<br>'
        f"<code>{escape(status.base_url)}</code></span>"
        '<form method="post" action="/_sandbox/faults">'
        f'<input type="hidden" name="vendor" value="{escape(status.name)}">'
        f'<input type="hidden" name="fault" value="{next_fault}">'
        f"<button>{label}</button></form>"
        + "".join(_fault_button(status.name, name) for name in status.delivery_faults if fault is None)
        + "</div>"
    )


def _fault_button(vendor: str, fault: str) -> str:
    return (
        '<form method="post" action="/_sandbox/faults">'
        f'<input type="hidden" name="vendor" value="{escape(vendor)}">'
        f'<input type="hidden" name="fault" value="{escape(fault)}">'
        f'<button title="{escape(DELIVERY_FAULTS[fault])}">{escape(fault.capitalize())}</button></form>'
    )


def _phone(recipient: str, messages: list[Mapping[str, str]]) -> str:
    items = "".join(
        f'<li class="sms"><p>{escape(m["text"])}</p>'
        f'<small>{escape(m["vendor"])} &middot; <time>{escape(m["at"])}</time></small></li>'
        for m in messages
    )
    return f'<article class="phone"><h3>{escape(recipient)}</h3><ol>{items}</ol></article>'


def group_by_phone(messages: Iterable[Mapping[str, str]]) -> list[tuple[str, list[Mapping[str, str]]]]:
    """``[(recipient, messages newest first)]``, the most recently texted phone first."""
    groups: dict[str, list[Mapping[str, str]]] = {}
    for message in reversed(list(messages)):
        groups.setdefault(message["recipient"], []).append(message)
    return list(groups.items())


def render_inbox(messages: Iterable[Mapping[str, str]], vendors: Iterable[VendorStatus]) -> str:
    """The whole page; ``messages`` oldest first, as the sandbox records them."""
    phones = "".join(_phone(recipient, group) for recipient, group in group_by_phone(messages))
    rows = "".join(_vendor_row(status) for status in vendors)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="2"><title>SMS sandbox inbox</title>'
        f"<style>{_STYLE}</style></head><body>"
        "<header><h1>SMS vendor sandbox</h1></header><main>"
        f'<section class="vendors"><h2>Vendors</h2>{rows}'
        '<div class="vendor"><form method="post" action="/_sandbox/reset">'
        "<button>Reset messages and faults</button></form></div></section>"
        f'<section class="phones">{phones or "<p class=empty>No messages yet.</p>"}</section>'
        "</main></body></html>"
    )


def answer_control(sandbox: SandboxState, method: str, path: str, content_type: str, body: bytes) -> Response:
    """Answer the inbox page and the ``/messages.json`` and ``/_sandbox/*`` endpoints."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    is_form = media_type == "application/x-www-form-urlencoded"
    if method == "GET" and path == "/":
        page = render_inbox(sandbox.messages, _vendor_statuses(sandbox))
        return Response(200, page.encode(), "text/html; charset=utf-8", {"Cache-Control": "no-store"})
    if method == "GET" and path == "/messages.json":
        return Response.json(200, sandbox.messages)
    if method == "GET" and path == "/_sandbox/state":
        return Response.json(200, sandbox.state())
    if method == "POST" and path == "/_sandbox/reset":
        sandbox.reset()
        return _redirect_home() if is_form else Response.json(200, sandbox.state())
    if method == "POST" and path == "/_sandbox/faults":
        fields = parse_body(media_type, body)
        if not isinstance(fields, dict):
            return Response.json(400, {"error": "send a JSON object or form fields: vendor, fault, count"})
        try:
            sandbox.set_fault(str(fields.get("vendor", "")), _optional_text(fields.get("fault")),
                              _optional_count(fields.get("count")))
        except ValueError as exc:
            return Response.json(400, {"error": str(exc)})
        return _redirect_home() if is_form else Response.json(200, sandbox.state())
    if method == "POST" and path == "/_sandbox/latency":
        fields = parse_body(media_type, body)
        try:
            if not isinstance(fields, dict):
                raise ValueError("send a JSON object or form fields: seconds")
            sandbox.set_latency(_seconds(fields.get("seconds")))
        except ValueError as exc:
            return Response.json(400, {"error": str(exc)})
        return Response.json(200, sandbox.state())
    if path in CONTROL_PATHS:
        return Response.json(405, {"error": f"{method} is not allowed on {path}"})
    return Response.json(404, {"error": f"no such page: {path}"})


def _optional_text(value: Any) -> str | None:
    """A fault name from JSON or a form; ``500`` may come as a number."""
    return None if value is None or value == "" else str(value)


def _optional_count(value: Any) -> int | None:
    """A fault count from JSON (number) or a form (digits); empty means None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"count must be a positive integer, not {value!r}") from None
    return value


def _seconds(value: Any) -> float:
    """Latency seconds from JSON (number) or a form (text); the range is checked by set_latency."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"seconds must be a number, not {value!r}") from None
    return value


def _redirect_home() -> Response:
    return Response(303, b"", None, {"Location": "/"})


def _vendor_statuses(sandbox: SandboxState) -> list[VendorStatus]:
    faults, stats = sandbox.faults, sandbox.stats
    return [
        VendorStatus(v, sandbox.base_url(v), faults.get(v), stats[v]["requests"],
                     tuple(name for name in DELIVERY_FAULTS if name in FAULTS.get(v, ())))
        for v in VENDORS
    ]
