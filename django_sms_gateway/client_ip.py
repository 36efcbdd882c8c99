"""The client's IP address, for the per-IP sending limit.

By default it is ``REMOTE_ADDR``: the address that connected to Django. Behind
reverse proxies that address is the proxy's, so a site names the header its
proxies fill (``OTP_SMS_CLIENT_IP_HEADER``, a ``request.META`` key such as
``"HTTP_X_FORWARDED_FOR"``) and how many proxies append to it
(``OTP_SMS_TRUSTED_PROXIES``). Each proxy appends the address it received
the request from, so with ``N`` trusted proxies the client is the ``N``-th
entry from the right; anything left of it may have been written by the
client and is ignored.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from .conf import settings
from .signals import LogThrottle

logger = logging.getLogger("django_sms_gateway")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: IPv6 clients are counted per /64: one subscriber usually gets a whole /64.
IPV6_PREFIX = 64
_fallback_warnings = LogThrottle()
_proxy_warnings = LogThrottle()
#: ``request.META`` keys a reverse proxy or load balancer sets.
FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")



def parse_ip(value: Any) -> IPAddress | None:
    """An address as a header or ``REMOTE_ADDR`` writes it, or None if it is not one.

    Accepts ``1.2.3.4``, ``1.2.3.4:5678``, ``2001:db8::1``, ``[2001:db8::1]:443``
    and a zone (``fe80::1%eth0``, dropped); an IPv4-mapped IPv6 address is read
    as the IPv4 address.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > 64:
        return None
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or (text[end + 1 :] and not text[end + 1 :].startswith(":")):
            return None
        text = text[1:end]
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.split(":", 1)[0]
    text = text.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_ip(request: Any) -> str | None:
    """The client's address for ``request`` (a string), or None when unknown.

    When the configured header is missing, has fewer entries than there are
    trusted proxies, or its entry is not an address, ``REMOTE_ADDR`` is used:
    such a request did not come through the proxies as configured.
    """
    cfg = settings.limits
    address = client_address(request, cfg.ip_header, cfg.ip_proxies)
    return str(address) if address is not None else None


def client_address(request: Any, header: str | None, proxies: int) -> IPAddress | None:
    """:func:`client_ip` with the (validated) settings given, as an address object."""
    meta = getattr(request, "META", None)
    if not isinstance(meta, dict):
        return None
    if header is not None and header != "REMOTE_ADDR":
        entries = str(meta.get(header, "")).split(",")
        if len(entries) >= proxies and entries[-proxies].strip():
            address = parse_ip(entries[-proxies])
            if address is not None:
                return address
        held_back = _fallback_warnings.allow()
        if held_back is not None:  # requests that bypass the proxies could otherwise flood the log
            logger.warning(
                "%s has no usable client address for %d trusted prox%s; using REMOTE_ADDR for the SMS "
                "limits (%d more such requests since the last warning)",
                header, proxies, "y" if proxies == 1 else "ies", held_back,
            )
    address = parse_ip(meta.get("REMOTE_ADDR"))
    if header is None and address is not None and not address.is_global:
        _warn_if_proxied(meta)
    return address


def _warn_if_proxied(meta: dict[str, Any]) -> None:
    """A request from a non-public address with forwarding headers came through
    a proxy (a public client forging the headers is not warned about)."""
    found = next((name for name in FORWARDED_HEADERS if meta.get(name)), None)
    if found is None:
        return
    held_back = _proxy_warnings.allow()
    if held_back is not None:
        logger.warning(
            "Requests come through a proxy (%s is set, REMOTE_ADDR is not a public address) but "
            "OTP_SMS_CLIENT_IP_HEADER is not set, so every client shares the proxy's 'ip' sending limit; "
            "set OTP_SMS_CLIENT_IP_HEADER and OTP_SMS_TRUSTED_PROXIES (%d more such requests since the last "
            "warning)",
            found, held_back,
        )


def limit_key(address: str | IPAddress) -> str:
    """What the per-IP limit counts by: the IPv4 address, or the IPv6 /64."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)
