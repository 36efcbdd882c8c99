"""Deprecated: the sandbox server now lives in :mod:`.state` (faults, stats),
:mod:`.http` (:class:`Sandbox` and its handler) and :mod:`.pages` (the
inbox and control pages). These names keep working from here."""

from __future__ import annotations

from .http import Sandbox
from .state import COMMON_FAULTS, CREDENTIALS, FAULTS, VENDORS, RecordedRequest

__all__ = ["COMMON_FAULTS", "CREDENTIALS", "FAULTS", "VENDORS", "RecordedRequest", "Sandbox"]
