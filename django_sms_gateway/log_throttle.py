"""Warnings that could repeat on every login, logged at most once a minute."""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable

__all__ = ["WARN_INTERVAL", "LogThrottle"]

#: Seconds between two warnings of the same kind (per process).
WARN_INTERVAL = 60.0


class LogThrottle:
    """Lets one warning per key through every ``WARN_INTERVAL`` seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[Hashable, float] = {}
        self._held_back: dict[Hashable, int] = {}

    def allow(self, key: Hashable = None) -> int | None:
        """How many warnings of ``key`` were held back since the last one
        let through, or None: hold this one back too."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < WARN_INTERVAL:
                self._held_back[key] = self._held_back.get(key, 0) + 1
                return None
            self._last[key] = now
            return self._held_back.pop(key, 0)
