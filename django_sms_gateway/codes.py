"""One-time codes: made with ``secrets``, stored only as a keyed hash."""

from __future__ import annotations

import hmac
import math
import secrets

from django.utils.crypto import salted_hmac

_SALT = "django_sms_gateway.codes"
#: Start of the token column's value while one request checks a vendor's code.
IN_PROGRESS_PREFIX = "checking:"


def generate_code(length: int) -> str:
    """A uniformly random string of ``length`` ASCII digits."""
    return f"{secrets.randbelow(10**length):0{length}d}"


def hash_code(device_id: object, code: str) -> str:
    """HMAC-SHA256 of ``code`` bound to the device, keyed with ``SECRET_KEY``
    (so a copy of the database alone does not reveal or test codes)."""
    return salted_hmac(_SALT, f"{device_id}:{code}", algorithm="sha256").hexdigest()


def code_matches(device_id: object, code: str, stored_hash: str | None) -> bool:
    """Constant-time comparison of ``code`` with ``stored_hash``."""
    if not stored_hash:
        return False
    return hmac.compare_digest(hash_code(device_id, code), stored_hash)


def unguessable_marker() -> str:
    """A value for the token column when the vendor holds the code."""
    return "vendor:" + secrets.token_hex(24)


def in_progress_marker(until: float) -> str:
    """A value for the token column while one request asks the vendor
    whether a code is right, until ``until`` (epoch seconds) at the latest.
    Unique per request; nothing secret in it."""
    return f"{IN_PROGRESS_PREFIX}{math.ceil(until)}:{secrets.token_hex(24)}"


def is_check_in_progress(token: str, now: float) -> bool:
    """Whether ``token`` is an in-progress marker whose request may still be
    asking the vendor (one left behind by a dead process is not, once its
    time is up)."""
    if not token.startswith(IN_PROGRESS_PREFIX):
        return False
    until = token[len(IN_PROGRESS_PREFIX):].split(":", 1)[0]
    return not until.isdigit() or now < int(until)


#: Deprecated alias of :func:`is_check_in_progress`.
check_in_progress = is_check_in_progress
