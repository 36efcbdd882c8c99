"""A vendor's error messages as a short, safe part of ``GatewayError.reason``.

A reason goes to logs, signals, ``DeliveryRecord`` and the admin, so it holds
only what we can vouch for: a vendor module passes the error codes or
messages it knows (from the vendor's documentation) as ``known``, and
:func:`summarize` keeps those and nothing else. A vendor's free text may
echo our request back (the number in any format, the code, our
``Authorization`` header); :func:`scrub` masks all of that wherever vendor
text could still reach a log.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from ..phone import mask_number

#: Longest reason built from vendor text (``DeliveryRecord.reason`` holds 255).
MAX_REASON = 200
#: Said instead of a message that is not in the vendor's known list.
UNLISTED = "unlisted vendor message"

# Four digits or more, with an optional "+" and any spaces, dashes, dots,
# slashes or brackets between them: a phone number in any format, or a code
# written "123 456" or "12-34-56".
_DIGIT_RUN = re.compile(r"\+?\(?\d(?:[\s\-./()]{0,3}\d){3,}\)?")
_CREDENTIAL = re.compile(r"\b(Basic|Bearer|Digest|Token|ApiKey)\s+[^\s,;\"']+", re.IGNORECASE)
_MASK = "***"


def scrub(text: str, *, recipient: str | None = None, secrets: Iterable[str] = ()) -> str:
    """``text`` on one line, without control characters, credentials after an
    authorization scheme, ``secrets`` (the code, keys), or runs of four or
    more digits (numbers in any format and codes with spaces or dashes; the
    recipient shows masked as :func:`~django_sms_gateway.phone.mask_number`
    does)."""
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    for secret in secrets:
        if secret:
            text = text.replace(secret, _MASK)
    text = _CREDENTIAL.sub(lambda match: f"{match.group(1)} {_MASK}", text)
    recipient_digits = re.sub(r"\D", "", recipient or "")

    def mask(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group())
        if recipient_digits and len(digits) >= 6 and (
            recipient_digits.endswith(digits) or digits.endswith(recipient_digits)
        ):
            return mask_number(recipient or "")
        return _MASK

    return _DIGIT_RUN.sub(mask, text)


def _key(text: str) -> str:
    return " ".join(text.split()).casefold().rstrip(".")


def summarize(
    messages: Iterable[object],
    *,
    known: Iterable[str] | Mapping[str, str] | None = None,
    recipient: str | None = None,
    secrets: Iterable[str] = (),
    limit: int = MAX_REASON,
) -> str:
    """The vendor's messages, joined with ``"; "`` and cut to ``limit`` characters.

    With ``known`` (the vendor's documented error codes or messages, or a
    mapping of them to what to say), only those are kept, matched without
    regard to case, spacing or a final full stop; anything else becomes
    :data:`UNLISTED` once. Without it (the older call), each message is
    passed through :func:`scrub`.
    """
    texts = [message for message in messages if isinstance(message, str) and message.strip()]
    parts: list[str] = []
    if known is not None:
        said = dict(known) if isinstance(known, Mapping) else {entry: entry for entry in known}
        table = {_key(entry): shown for entry, shown in said.items()}
        unlisted = False
        for text in texts:
            shown = table.get(_key(text))
            if shown is None:
                unlisted = True
            elif shown not in parts:
                parts.append(shown)
        if unlisted:
            parts.append(UNLISTED)
    else:
        parts = [scrub(text, recipient=recipient, secrets=secrets) for text in texts]
    joined = "; ".join(part for part in parts if part)
    if len(joined) > limit:
        joined = joined[: limit - 1].rstrip() + "…"
    return joined
