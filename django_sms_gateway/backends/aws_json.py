"""HTTP backends for an AWS service that speaks the AWS JSON 1.0 protocol,
signed by botocore.

Wire facts and their sources:

- ``POST {base_url}/`` with ``X-Amz-Target: {target prefix}.{operation}``
  and ``Content-Type: application/x-amz-json-1.0``, signed with SigV4 under
  the service's signing name; the endpoint
  ``https://{endpoint prefix}.{region}.{DNS suffix}``. Source: the
  service models shipped in botocore (``metadata.protocol`` ``json``,
  ``jsonVersion`` ``1.0``, ``targetPrefix``, ``signingName``,
  ``endpointPrefix``).
- The DNS suffix is the region's partition's: ``amazonaws.com.cn`` for
  ``cn-*``, ``amazonaws.eu`` for ``eusc-de-*``, ``c2s.ic.gov``,
  ``sc2s.sgov.gov``, ``cloud.adc-e.uk`` and ``csp.hci.ic.gov`` for the
  isolated regions, ``amazonaws.com`` for the others (GovCloud included).
  Source: the partitions' ``regionRegex`` and ``dnsSuffix`` in botocore's
  ``botocore/data/partitions.json`` and ``endpoints.json``
  (:data:`PARTITION_SUFFIXES`).
- An error's name travels in the body's ``__type`` (possibly
  ``namespace#Name``) or the ``X-Amzn-ErrorType`` header. Source: botocore's
  JSON error parser (``botocore/parsers.py``).
- Credentials come from botocore's standard chain (environment, shared
  files, container and instance roles); signing is botocore's ``SigV4Auth``,
  never ours. Only the HTTP call is ours, so the deadline, size bound and
  keep-alive session are those of every backend.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

import requests

from ..checks import E005
from ..exceptions import ConfigurationError, GatewayAuthError
from .base import Option
from .http import HTTPBackend, VendorResponse, json_object_or_empty

__all__ = ["AWSJSONBackend", "dns_suffix", "error_answer", "plain_word"]

CONTENT_TYPE = "application/x-amz-json-1.0"
_NAME = re.compile(r"[A-Za-z_]{1,64}")
#: Region pattern -> the DNS suffix of its partition, first match wins; other
#: regions are in the ``aws`` partition (:data:`DEFAULT_SUFFIX`).
PARTITION_SUFFIXES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), suffix) for pattern, suffix in (
        (r"cn-\w+-\d+", "amazonaws.com.cn"),
        (r"eusc-de-\w+-\d+", "amazonaws.eu"),
        (r"us-iso-\w+-\d+", "c2s.ic.gov"),
        (r"us-isob-\w+-\d+", "sc2s.sgov.gov"),
        (r"eu-isoe-\w+-\d+", "cloud.adc-e.uk"),
        (r"us-isof-\w+-\d+", "csp.hci.ic.gov"),
    )
)
DEFAULT_SUFFIX = "amazonaws.com"


def _region_problem(value: str) -> str | None:
    if re.fullmatch(r"[a-z]{2,4}(-[a-z]+)+-[0-9]+", value):
        return None
    return f"must be an AWS Region such as 'eu-west-1', not {value!r}"


def dns_suffix(region: str) -> str:
    """The DNS suffix of ``region``'s partition (``amazonaws.com.cn`` for ``cn-north-1``)."""
    return next((suffix for pattern, suffix in PARTITION_SUFFIXES if pattern.fullmatch(region)), DEFAULT_SUFFIX)


class _SigV4(requests.auth.AuthBase):
    """Signs a prepared request with botocore, with credentials fetched per call."""

    def __init__(self, credentials: Any, signing_name: str, region: str) -> None:
        self.credentials, self.signing_name, self.region = credentials, signing_name, region

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        signed = AWSRequest(method=request.method, url=request.url, data=request.body,
                            headers={name: request.headers[name] for name in ("Content-Type", "X-Amz-Target")})
        SigV4Auth(self.credentials.get_frozen_credentials(), self.signing_name, self.region).add_auth(signed)
        request.headers.update(dict(signed.headers.items()))
        return request


class AWSJSONBackend(HTTPBackend):
    """A backend that calls one AWS service's operations (:meth:`call`).
    Subclasses set ``signing_name``, ``endpoint_prefix`` and
    ``target_prefix`` from the service model."""

    options: ClassVar[Mapping[str, Any]] = {
        **HTTPBackend.options,
        "region": Option(kind="text", check=_region_problem, doc="The AWS Region, such as 'eu-west-1'."),
    }
    signing_name: ClassVar[str] = ""
    endpoint_prefix: ClassVar[str] = ""
    target_prefix: ClassVar[str] = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._credentials: Any = None
        self._credentials_lock = threading.Lock()

    def vendor_base_url(self) -> str:
        region = self.config["region"]
        return f"https://{self.endpoint_prefix}.{region}.{dns_suffix(region)}"

    def check_options(self) -> None:
        try:
            import botocore  # noqa: F401
        except ImportError:
            raise ConfigurationError(
                f"SMS_GATEWAYS[{self.alias!r}] ({type(self).__name__}): needs botocore for AWS signing",
                check_id=E005, hint="pip install 'django-otp-sms-gateway[aws]'",
                obj=f"SMS_GATEWAYS[{self.alias!r}]",
            ) from None

    def call(self, operation: str, body: dict[str, Any], timeout: float) -> VendorResponse:
        """One signed call of ``operation`` with JSON ``body``."""
        headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": f"{self.target_prefix}.{operation}"}
        return self.request("POST", "/", timeout=timeout, data=json.dumps(body).encode(), headers=headers,
                            auth=_SigV4(self.credentials(), self.signing_name, self.config["region"]))

    def credentials(self) -> Any:
        """botocore's credential chain, resolved once (refreshable ones renew themselves)."""
        import botocore.exceptions
        import botocore.session

        with self._credentials_lock:
            if self._credentials is None:
                try:
                    self._credentials = botocore.session.get_session().get_credentials()
                except botocore.exceptions.BotoCoreError as exc:
                    raise self.error(GatewayAuthError, "AWS credentials could not be loaded", not_sent=True) from exc
            if self._credentials is None:
                raise self.error(GatewayAuthError, "no AWS credentials found", not_sent=True)
            return self._credentials


def error_answer(response: VendorResponse) -> tuple[str | None, dict[str, Any]]:
    """The AWS error name, when it is a plain word (:func:`plain_word`), and
    the error answer as a JSON object (empty when it is none)."""
    answer = json_object_or_empty(response.body)
    raw = answer.get("__type") or response.headers.get("X-Amzn-ErrorType") or ""
    return plain_word(str(raw).rpartition("#")[2].partition(":")[0]), answer


def plain_word(value: object) -> str | None:
    """``value`` when it is a word of at most 64 letters and underscores (the
    most of an AWS error we repeat), else None."""
    return value if isinstance(value, str) and _NAME.fullmatch(value) else None
