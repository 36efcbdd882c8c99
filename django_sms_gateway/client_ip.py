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

from django.conf import settings as django_settings

from .conf import settings
from .exceptions import ConfigurationError, ConfigurationWarning
from .log_throttle import LogThrottle

logger = logging.getLogger("django_sms_gateway")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: IPv6 clients are counted per /64: one subscriber usually gets a whole /64.
IPV6_PREFIX = 64
_fallback_warnings = LogThrottle()
_proxy_warnings = LogThrottle()
#: ``request.META`` keys a reverse proxy or load balancer sets.
FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")
_HINT = (
    "Behind a proxy, set OTP_SMS_CLIENT_IP_HEADER = 'HTTP_X_FORWARDED_FOR' and OTP_SMS_TRUSTED_PROXIES to the "
    "number of proxies in front of the site; see 'Client IP behind a proxy' in docs/limits.md."
)


def ip_settings() -> tuple[str | None, int]:
    """``(OTP_SMS_CLIENT_IP_HEADER, OTP_SMS_TRUSTED_PROXIES)``, validated.

    Raises :class:`ConfigurationError` (``sms_gateway.E012``) naming the setting that is wrong.
    """
    header = settings.OTP_SMS_CLIENT_IP_HEADER
    proxies = settings.OTP_SMS_TRUSTED_PROXIES
    if header is not None:
        if not isinstance(header, str) or not header:
            raise ConfigurationError(
                f"OTP_SMS_CLIENT_IP_HEADER must be a request.META key such as 'HTTP_X_FORWARDED_FOR' "
                f"or None, not {header!r}.",
                check_id="sms_gateway.E012", hint=_HINT, obj="OTP_SMS_CLIENT_IP_HEADER",
            )
        if header != header.upper() or "-" in header or not (header.startswith("HTTP_") or header == "REMOTE_ADDR"):
            suggestion = "HTTP_" + header.upper().replace("-", "_").removeprefix("HTTP_")
            raise ConfigurationError(
                f"OTP_SMS_CLIENT_IP_HEADER is {header!r}, which is not how Django names a header in "
                f"request.META; write {suggestion!r}.",
                check_id="sms_gateway.E012", hint=_HINT, obj="OTP_SMS_CLIENT_IP_HEADER",
            )
    if isinstance(proxies, bool) or not isinstance(proxies, int) or proxies < 1:
        raise ConfigurationError(
            f"OTP_SMS_TRUSTED_PROXIES must be a whole number of proxies, at least 1, not {proxies!r}.",
            check_id="sms_gateway.E012", hint=_HINT, obj="OTP_SMS_TRUSTED_PROXIES",
        )
    return header, proxies


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
    address = client_address(request, *ip_settings())
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


def proxy_warnings(ip_limit_on: bool) -> list[ConfigurationWarning]:
    """``sms_gateway.W017``: the settings say the site is behind a proxy
    (``SECURE_PROXY_SSL_HEADER``, ``USE_X_FORWARDED_HOST``/``_PORT``) but no
    client-IP header is configured, so every user would share one ``ip`` counter.
    Requests show it too: :func:`client_address` logs a warning then."""
    if not ip_limit_on or settings.OTP_SMS_CLIENT_IP_HEADER is not None:
        return []
    signs = [
        name for name in ("SECURE_PROXY_SSL_HEADER", "USE_X_FORWARDED_HOST", "USE_X_FORWARDED_PORT")
        if getattr(django_settings, name, None)
    ]
    if not signs:
        return []
    return [
        ConfigurationWarning(
            f"{signs[0]} says the site runs behind a proxy, but OTP_SMS_CLIENT_IP_HEADER is not set: the 'ip' "
            "sending limit would count every user as the proxy's address.",
            hint=_HINT,
            obj="OTP_SMS_CLIENT_IP_HEADER",
            check_id="sms_gateway.W017",
        )
    ]


def limit_key(address: str | IPAddress) -> str:
    """What the per-IP limit counts by: the IPv4 address, or the IPv6 /64."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)
