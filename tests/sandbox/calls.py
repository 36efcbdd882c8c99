"""Well-formed requests to each imitated vendor, shared by the sandbox tests."""

from __future__ import annotations

from typing import Any

import requests

from sms_sandbox import CREDENTIALS, Sandbox
from sms_sandbox.twilio import VERIFY_SERVICE_SID

#: Client timeout of every test request: nothing in the suite may hang.
TIMEOUT = 5.0

SIGNICAT = CREDENTIALS["signicat"]
ZIGNSEC = CREDENTIALS["zignsec"]
ACCUAUTH = CREDENTIALS["accuauth"]
IP1 = CREDENTIALS["ip1"]
ACCUAUTH_HEADERS = {"X-DF-API-ID": ACCUAUTH["api_id"], "X-DF-API-SECRET": ACCUAUTH["api_secret"]}
IP1_AUTH = (IP1["account"], IP1["api_key"])
TWILIO = CREDENTIALS["twilio"]
TWILIO_AUTH = (TWILIO["account_sid"], TWILIO["auth_token"])
VONAGE = CREDENTIALS["vonage"]


def signicat_token(sandbox: Sandbox, http: Any = requests, scope: str = "client.sms.send") -> str:
    response = signicat_token_request(sandbox, http, scope=scope)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def signicat_token_request(sandbox: Sandbox, http: Any = requests, *, scope: str = "client.sms.send",
                           auth: tuple[str, str] | None = None, **kwargs: Any) -> requests.Response:
    return http.post(
        sandbox.base_url("signicat") + "/oidc/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=auth or (SIGNICAT["client_id"], SIGNICAT["client_secret"]),
        timeout=kwargs.pop("timeout", TIMEOUT),
        **kwargs,
    )


def signicat_send(sandbox: Sandbox, token: str, payload: Any = None, http: Any = requests,
                  **kwargs: Any) -> requests.Response:
    if payload is None:
        payload = {"sender": "Sandbox", "recipient": "+4798765432", "message": "Your code is 1234"}
    return http.post(sandbox.base_url("signicat") + "/sms/messages", json=payload,
                     headers={"Authorization": f"Bearer {token}"}, timeout=kwargs.pop("timeout", TIMEOUT),
                     **kwargs)


def zignsec_payload(**metadata: Any) -> dict[str, Any]:
    base = {"from": "+123456789", "to": "+46701234567", "message": "Your code is 1234",
            "max_message_parts": 1}
    base.update(metadata)
    return {"metadata": base, "relay_state": "user-42"}


def zignsec_send(sandbox: Sandbox, payload: Any = None, http: Any = requests, *,
                 key: str | None = None, **kwargs: Any) -> requests.Response:
    return http.post(sandbox.base_url("zignsec") + "/core/api/sessions/two_factor_auth/sms",
                     json=zignsec_payload() if payload is None else payload,
                     headers={"Authorization": ZIGNSEC["api_key"] if key is None else key},
                     timeout=kwargs.pop("timeout", TIMEOUT), **kwargs)


def accuauth_send(sandbox: Sandbox, fields: Any = None, http: Any = requests, *, form: bool = True,
                  headers: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
    if fields is None:
        fields = {"phone_number": "+6281234567890", "content": "code:123456,expire_at:5"}
    body = {"data": fields} if form else {"json": fields}
    return http.post(sandbox.base_url("accuauth") + "/data/send_sms_otp",
                     headers=ACCUAUTH_HEADERS if headers is None else headers,
                     timeout=kwargs.pop("timeout", TIMEOUT), **body, **kwargs)


def ip1_create(sandbox: Sandbox, fields: Any = None, http: Any = requests, *,
               auth: tuple[str, str] = IP1_AUTH, **kwargs: Any) -> requests.Response:
    return http.post(sandbox.base_url("ip1") + "/api/authentications",
                     json={"Phone": "46701234567"} if fields is None else fields, auth=auth,
                     timeout=kwargs.pop("timeout", TIMEOUT), **kwargs)


def ip1_validate(sandbox: Sandbox, phone: str, code: str, http: Any = requests) -> requests.Response:
    return http.post(sandbox.base_url("ip1") + "/api/authentications/validate",
                     json={"Phone": phone, "Code": code}, auth=IP1_AUTH, timeout=TIMEOUT)


def twilio_send(sandbox: Sandbox, fields: Any = None, http: Any = requests, *,
                auth: tuple[str, str] = TWILIO_AUTH, account: str | None = None, **kwargs: Any) -> requests.Response:
    if fields is None:
        fields = {"To": "+4798765432", "From": "+15005550006", "Body": "Your code is 123456"}
    return http.post(f"{sandbox.base_url('twilio')}/2010-04-01/Accounts/{account or TWILIO['account_sid']}"
                     "/Messages.json", data=fields, auth=auth, timeout=kwargs.pop("timeout", TIMEOUT), **kwargs)


def twilio_verify(sandbox: Sandbox, action: str = "Verifications", fields: Any = None, http: Any = requests, *,
                  service: str | None = None, auth: tuple[str, str] = TWILIO_AUTH,
                  **kwargs: Any) -> requests.Response:
    if fields is None:
        fields = {"To": "+4798765432", "Channel": "sms"}
    return http.post(f"{sandbox.base_url('twilio')}/v2/Services/{service or VERIFY_SERVICE_SID}"
                     f"/{action}", data=fields, auth=auth, timeout=kwargs.pop("timeout", TIMEOUT), **kwargs)


def vonage_send(sandbox: Sandbox, fields: Any = None, http: Any = requests, **kwargs: Any) -> requests.Response:
    if fields is None:
        fields = {"from": "Acme", "to": "4798765432", "text": "Your code is 123456"}
    credentials = {"api_key": VONAGE["api_key"], "api_secret": VONAGE["api_secret"]}
    return http.post(sandbox.base_url("vonage") + "/sms/json", data={**credentials, **fields},
                     timeout=kwargs.pop("timeout", TIMEOUT), **kwargs)


def call(sandbox: Sandbox, key: str, **kwargs: Any) -> requests.Response:
    """A valid request for a fault key (Signicat gets its token first)."""
    if key == "signicat":
        token = signicat_token(sandbox)
        return signicat_send(sandbox, token, **kwargs)
    if key == "signicat-token":
        return signicat_token_request(sandbox, **kwargs)
    if key == "zignsec":
        return zignsec_send(sandbox, **kwargs)
    if key == "accuauth":
        return accuauth_send(sandbox, **kwargs)
    if key == "twilio":
        return twilio_send(sandbox, **kwargs)
    if key == "twilio-verify":
        return twilio_verify(sandbox, **kwargs)
    if key == "vonage":
        return vonage_send(sandbox, **kwargs)
    if key in MORE_VENDOR_CALLS:
        return MORE_VENDOR_CALLS[key](sandbox, **kwargs)
    return ip1_create(sandbox, **kwargs)


def infobip_send(sandbox: Sandbox, timeout: float = TIMEOUT) -> requests.Response:
    body = {"messages": [{"sender": "Acme", "destinations": [{"to": "4798765432"}], "content": {"text": "Hi"}}]}
    return requests.post(sandbox.base_url("infobip") + "/sms/3/messages", json=body, timeout=timeout,
                         headers={"Authorization": f"App {CREDENTIALS['infobip']['api_key']}"})


def sinch_send(sandbox: Sandbox, timeout: float = TIMEOUT) -> requests.Response:
    plan, token = CREDENTIALS["sinch"]["service_plan_id"], CREDENTIALS["sinch"]["api_token"]
    return requests.post(f"{sandbox.base_url('sinch')}/xms/v1/{plan}/batches", timeout=timeout,
                         json={"from": "Acme", "to": ["+4798765432"], "body": "Hi"},
                         headers={"Authorization": f"Bearer {token}"})


def aws_send(sandbox: Sandbox, timeout: float = TIMEOUT) -> requests.Response:
    """Unsigned (faults answer before the signature is checked; signed calls are in tests/vendors/test_aws.py)."""
    return requests.post(sandbox.base_url("aws") + "/", data=b"{}", timeout=timeout,
                         headers={"Content-Type": "application/x-amz-json-1.0",
                                  "X-Amz-Target": "PinpointSMSVoiceV2.SendTextMessage"})


def camara_token_request(sandbox: Sandbox, timeout: float = TIMEOUT, scope: str = "sim-swap:check",
                         auth: tuple[str, str] | None = None) -> requests.Response:
    camara = CREDENTIALS["camara"]
    return requests.post(sandbox.base_url("camara") + "/token", timeout=timeout,
                         data={"grant_type": "client_credentials", "scope": scope},
                         auth=auth or (camara["client_id"], camara["client_secret"]))


def camara_check(sandbox: Sandbox, timeout: float = TIMEOUT, body: Any = None,
                 token: str | None = None) -> requests.Response:
    """A SIM-swap check (with a token fetched first unless one is given)."""
    token = token or camara_token_request(sandbox).json()["access_token"]
    return requests.post(sandbox.base_url("camara") + "/sim-swap/v2/check", timeout=timeout,
                         json={"phoneNumber": "+4798765432", "maxAge": 240} if body is None else body,
                         headers={"Authorization": f"Bearer {token}"})


def twilio_lookup(sandbox: Sandbox, timeout: float = TIMEOUT, number: str = "+4798765432",
                  fields: str = "sim_swap", auth: tuple[str, str] = TWILIO_AUTH) -> requests.Response:
    return requests.get(f"{sandbox.base_url('twilio_lookup')}/v2/PhoneNumbers/{number}", timeout=timeout,
                        params={"Fields": fields}, auth=auth)


MORE_VENDOR_CALLS = {"infobip": infobip_send, "sinch": sinch_send, "aws": aws_send, "camara": camara_check,
                     "camara-token": camara_token_request, "twilio_lookup": twilio_lookup}
