"""SIM-swap check on the CAMARA SIM Swap API, which operators expose directly or through aggregators.

Wire facts and their sources:

- ``POST {apiRoot}/sim-swap/v2/check`` with the JSON ``{"phoneNumber",
  "maxAge"}``: ``phoneNumber`` E.164 (``^\\+[1-9][0-9]{4,14}$``), ``maxAge``
  the hours to look back, 1 to 2400 (default 240); the answer 200
  ``{"swapped": true|false}`` ("Indicates whether the SIM card has been
  swapped during the period within the provided age"). With a two-legged
  token the ``phoneNumber`` must be given. Errors are ``{"status", "code",
  "message"}``: 400 ``INVALID_ARGUMENT`` / ``OUT_OF_RANGE`` (also a
  ``maxAge`` past the operator's own limit), 401 ``UNAUTHENTICATED``, 403
  ``PERMISSION_DENIED``, 404 ``NOT_FOUND`` / ``IDENTIFIER_NOT_FOUND``, 422
  ``SERVICE_NOT_APPLICABLE`` / ``MISSING_IDENTIFIER`` /
  ``UNNECESSARY_IDENTIFIER``, 429 ``QUOTA_EXCEEDED`` / ``TOO_MANY_REQUESTS``;
  scopes ``sim-swap:check`` or ``sim-swap``. Source: CAMARA SimSwap, release
  r3.2 (API version 2.1.0), ``code/API_definitions/sim-swap.yaml``,
  https://github.com/camaraproject/SimSwap/blob/r3.2/code/API_definitions/sim-swap.yaml
- 500 ``INTERNAL``, 502 ``BAD_GATEWAY``, 503 ``UNAVAILABLE``, 504
  ``TIMEOUT``, 501 ``NOT_IMPLEMENTED``. Source: CAMARA Commonalities r4.3,
  ``CAMARA_common.yaml``, as synced into the same repository at
  ``code/common/CAMARA_common.yaml``.
- The access token: OAuth 2.0 client credentials (RFC 6749 section 4.4), as
  :mod:`django_sms_gateway.backends.oauth2` gets it. *Inferred*: the token
  endpoint is the operator's or aggregator's own (CAMARA leaves it to the
  onboarding), so ``token_url`` is a required option, as ``base_url`` is.

Every answer but ``{"swapped": <bool>}`` is a lookup that could not answer
(the entry's ``FAIL_CLOSED`` decides), among them a number the operator does
not serve (422 ``SERVICE_NOT_APPLICABLE``, 404 ``IDENTIFIER_NOT_FOUND``).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from django.conf import settings as django_settings

from ..backends.base import REQUIRED, Option
from ..backends.http import VendorResponse, json_object_or_empty
from ..backends.oauth2 import ClientCredentialsBackend
from ..checks import E021
from ..exceptions import GatewayError, GatewayUnavailable
from . import RiskCheck, Verdict, allow, refuse

__all__ = ["CAMARA_ERROR_CODES", "CamaraSimSwapCheck"]

CHECK_PATH = "/check"
DEFAULT_SCOPE = "sim-swap:check"
#: The error codes of the API and of CAMARA's commonalities a reason may repeat.
CAMARA_ERROR_CODES = frozenset({
    "INVALID_ARGUMENT", "OUT_OF_RANGE", "UNAUTHENTICATED", "PERMISSION_DENIED", "NOT_FOUND",
    "IDENTIFIER_NOT_FOUND", "SERVICE_NOT_APPLICABLE", "MISSING_IDENTIFIER", "UNNECESSARY_IDENTIFIER",
    "QUOTA_EXCEEDED", "TOO_MANY_REQUESTS", "INTERNAL", "NOT_IMPLEMENTED", "BAD_GATEWAY", "UNAVAILABLE",
    "TIMEOUT",
})


class CamaraSimSwapCheck(RiskCheck, ClientCredentialsBackend):
    """Refuses a send to a number whose SIM was swapped within ``max_age``
    hours, by the CAMARA SIM Swap API's ``check``.

    Options: ``base_url`` (required: the API's address up to its version,
    such as ``https://api.example.com/sim-swap/v2``), ``token_url``
    (required), ``client_id``, ``client_secret``, ``scope`` (default
    ``sim-swap:check``) and ``max_age`` (hours, 1 to 2400, default 240)."""

    options: ClassVar[Mapping[str, Any]] = {
        "base_url": Option(REQUIRED, kind="url", doc="the API up to its version: https://.../sim-swap/v2"),
        "token_url": Option(REQUIRED, kind="url", doc="the OAuth 2.0 token endpoint of the operator or aggregator"),
        "client_id": ClientCredentialsBackend.options["client_id"],
        "client_secret": ClientCredentialsBackend.options["client_secret"],
        "scope": Option(DEFAULT_SCOPE, kind="text", doc="scope asked for (the API takes sim-swap:check or sim-swap)"),
        "max_age": Option(240, kind="int", minimum=1, maximum=2400, doc="hours to look back for a SIM swap"),
    }

    def check_options(self) -> None:
        token_url = urlsplit(self.config["token_url"])
        host = token_url.hostname or ""
        if token_url.scheme == "http" and not django_settings.DEBUG and not _is_loopback(host):
            raise self.config_error(
                f"option 'token_url' is plain http:// to {host!r}, which would send the client secret in clear; "
                "use https:// (http:// is allowed to loopback hosts, or with DEBUG = True)", check_id=E021,
            )

    def check(self, number: str, *, device: Any, request: Any, timeout: float) -> Verdict:
        max_age = self.config["max_age"]
        response = self.authorized_request("POST", CHECK_PATH, deadline=time.monotonic() + timeout,
                                           json={"phoneNumber": number, "maxAge": max_age})
        if not response.ok:
            raise self.camara_error(response)
        swapped = self.read_json(response).get("swapped")
        if not isinstance(swapped, bool):
            raise self.error(GatewayUnavailable, "answer without 'swapped'", status_code=response.status)
        if swapped:
            return refuse(f"SIM swapped within {max_age} hours")
        return allow(f"no SIM swap within {max_age} hours")

    def camara_error(self, response: VendorResponse) -> GatewayError:
        """Our error for a non-2xx answer: by status, with CAMARA's ``code`` when it is a documented one."""
        code = json_object_or_empty(response.body).get("code")
        code = code if isinstance(code, str) and code in CAMARA_ERROR_CODES else None
        try:
            self.raise_for_status(response, vendor_status=code)
        except GatewayError as err:
            if code is not None:
                err.reason = f"{err.reason}: {code}"
            return err
        return self.error(GatewayUnavailable, f"unexpected answer (HTTP {response.status})",
                          status_code=response.status)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
