"""Turning a vendor's error messages into a short, safe ``GatewayError.reason``.

A reason goes to logs, signals and the admin, so it must stay short, hold
no control characters, and never carry the code or the full phone number,
even when a vendor echoes our request back in its error text.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..phone import mask_number

#: Longest reason built from vendor text (``DeliveryRecord.reason`` holds 255).
MAX_REASON = 200


def summarize(
    messages: Iterable[object],
    *,
    recipient: str | None = None,
    secrets: Iterable[str] = (),
    limit: int = MAX_REASON,
) -> str:
    """Join vendor messages with ``"; "``, cut to ``limit`` characters.

    Occurrences of ``recipient`` (with or without ``+``) are masked and each
    of ``secrets`` (the code, credentials) is replaced by ``***``.
    """
    parts: list[str] = []
    for message in messages:
        if not isinstance(message, str):
            continue
        text = "".join(c if c.isprintable() else " " for c in message)
        text = " ".join(text.split())
        if text:
            parts.append(text)
    joined = "; ".join(parts)
    if recipient:
        masked = mask_number(recipient)
        joined = joined.replace(recipient, masked).replace(recipient.lstrip("+"), masked)
    for secret in secrets:
        if secret:
            joined = joined.replace(secret, "***")
    if len(joined) > limit:
        joined = joined[: limit - 1].rstrip() + "…"
    return joined
