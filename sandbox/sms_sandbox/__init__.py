"""Loopback sandbox imitating the SMS vendors' HTTP APIs.

One HTTP server speaks every supported vendor's API under a path of its own
(``/signicat``, ``/zignsec``, ``/accuauth``, ``/ip1``, ``/twilio``, ``/vonage``,
``/infobip``, ``/sinch``, ``/aws``: :data:`VENDORS`), records every SMS it
"sends", shows them on an inbox page and injects faults on demand. Each
imitation answers as the vendor's documents say, independently of any client
of that vendor. Standard library only (no Django)::

    python -m sms_sandbox --port 8025 --fault signicat=500

See :class:`Sandbox` for the Python API, :data:`FAULTS` for the faults per key
and :data:`CREDENTIALS` for what the imitated vendors accept. Under pytest,
:mod:`sms_sandbox.pytest_plugin` gives the fixtures ``sms_sandbox``,
``sandbox`` and ``sms_outbox``.
"""

from __future__ import annotations

from .http import Sandbox
from .state import COMMON_FAULTS, CREDENTIALS, FAULTS, VENDORS, RecordedRequest

__all__ = ["COMMON_FAULTS", "CREDENTIALS", "FAULTS", "VENDORS", "RecordedRequest", "Sandbox"]
