"""Reading JSON that someone else wrote: a vendor's answer or a webhook body.

Such a body may be anything: not UTF-8, not JSON, or JSON nested so deeply
that the parser runs out of stack (``RecursionError``). Each of these is one
:class:`UnreadableJSON`, so that a caller refuses the body cleanly instead of
failing with a server error.
"""

from __future__ import annotations

import json
from typing import Any


class UnreadableJSON(ValueError):
    """The body is not a JSON document of the expected shape."""


def read_json(body: bytes | str) -> Any:
    """The JSON document in ``body``, or :class:`UnreadableJSON`."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise UnreadableJSON(f"not JSON ({type(exc).__name__})") from None


def read_json_object(body: bytes | str) -> dict[str, Any]:
    """The JSON object in ``body``, or :class:`UnreadableJSON` for anything
    else (an array, a number, unreadable)."""
    data = read_json(body)
    if not isinstance(data, dict):
        raise UnreadableJSON("not a JSON object")
    return data


def json_object_or_none(body: bytes | str) -> dict[str, Any] | None:
    """The JSON object in ``body``, or None for anything else (an answer
    that need not be JSON, such as a vendor's error page)."""
    try:
        return read_json_object(body)
    except UnreadableJSON:
        return None


def json_object_or_empty(body: bytes | str) -> dict[str, Any]:
    """The JSON object in ``body``, or an empty one for anything else: for
    an error answer, which is read only for the codes it may carry."""
    return json_object_or_none(body) or {}


def whole_number(value: Any, low: int | None = None, high: int | None = None) -> int | None:
    """``value`` when it is a JSON integer (``true`` and ``false`` are not)
    from ``low`` to ``high``, else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if (low is not None and value < low) or (high is not None and value > high):
        return None
    return value
