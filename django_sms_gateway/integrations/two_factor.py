"""django-two-factor-auth gateway: send its codes through ``SMS_GATEWAYS``.

In the site's settings::

    TWO_FACTOR_SMS_GATEWAY = "django_sms_gateway.integrations.two_factor.Gateway"

django-two-factor-auth makes the code (TOTP) and checks it; this gateway
renders ``OTP_SMS_MESSAGE`` (translated, in the request's language) with that
code and sends it through the gateways in order, with fallback, country
rules, the time budget, signals and delivery records, like an
:class:`~django_sms_gateway.models.SMSDevice` code.

Gateways whose vendor makes its own code (``verifies_codes``, such as iP1)
are passed over on this path: they would send their code, not
django-two-factor-auth's. Voice calls are not supported.

Whatever :meth:`Gateway.send_sms` raises has user-safe text (a configuration
error is logged at ERROR and becomes
:class:`~django_sms_gateway.exceptions.SMSUnavailable`). django-two-factor-auth's
own ``LoginView`` still turns any gateway exception into a server error; use
:class:`LoginView` from this module (a drop-in subclass) to show the sentence
on the token step instead, in place of its "We sent you a text message". In
the site's URLs, before ``two_factor``'s own::

    from django_sms_gateway.integrations.two_factor import LoginView

    path("account/login/", LoginView.as_view(), name="login")
"""

from __future__ import annotations

import logging
from typing import Any

import django.conf
from django.apps import apps
from django.core.exceptions import ValidationError
from django.http import HttpResponse

from .. import limits, signals
from ..backends.base import BaseBackend
from ..checks import E010, E011, E024
from ..conf import settings
from ..dispatch import Delivery, build_message, gateways, send_message
from ..exceptions import ConfigurationError, DeliveryFailed, RecipientNotReachable, user_message, user_safe_error
from ..phone import TEST_NUMBER_SENT, FixedCodeChallenge, mask_number, normalize_number, report_test_number

logger = logging.getLogger("django_sms_gateway")

#: Dotted path to use as ``TWO_FACTOR_SMS_GATEWAY``.
GATEWAY_PATH = "django_sms_gateway.integrations.two_factor.Gateway"
#: The apps through which django-two-factor-auth sends text messages at all.
TWO_FACTOR_APPS = ("two_factor", "two_factor.plugins.phonenumber")
#: Seconds a django-two-factor-auth SMS code stays valid at least: it accepts
#: the current 30-second TOTP step and the five before it, so a code sent now
#: is good for 150 to 180 seconds. The message says "2 minutes", never more.
TOTP_VALIDITY = 120


def code_sending_gateways() -> list[BaseBackend]:
    """The gateways that send the text they are given, in ``SMS_GATEWAYS`` order."""
    return [backend for backend in gateways.all() if not backend.verifies_codes]


class Gateway:
    """``TWO_FACTOR_SMS_GATEWAY`` implementation (django-two-factor-auth
    builds one per message and calls :meth:`send_sms`)."""

    def send_sms(self, device: Any, token: str) -> Delivery | FixedCodeChallenge:
        """Send ``token`` to ``device.number`` (a ``PhoneNumber`` or a string).

        Raises :class:`~django_sms_gateway.exceptions.RiskCheckRefused` when
        a check of ``OTP_SMS_RISK_CHECKS`` refuses the number,
        :class:`~django_sms_gateway.exceptions.SendLimitExceeded`
        (user-safe text) when a sending limit refuses it,
        :class:`~django_sms_gateway.exceptions.DeliveryFailed` (user-safe
        text) when no gateway delivered it, and its subclass
        :class:`~django_sms_gateway.exceptions.SMSUnavailable` for a
        configuration error (such as every gateway making its own codes) or a
        bug, which is logged at ERROR. A number listed in
        ``OTP_SMS_TEST_NUMBERS`` is sent nothing (a ``FixedCodeChallenge``).
        """
        try:
            return self._send_sms(device, token)
        except Exception as exc:
            safe = user_safe_error(exc)
            if safe is exc:
                raise
            raise safe from exc

    def _send_sms(self, device: Any, token: str) -> Delivery | FixedCodeChallenge:
        from ..models import DeliveryRecord

        raw = getattr(device.number, "as_e164", None) or str(device.number or "")
        try:
            recipient = normalize_number(raw)
        except ValidationError as exc:
            logger.warning("SMS to %s not sent: not a mobile number (%s)", mask_number(raw), exc.messages[0])
            raise RecipientNotReachable() from exc
        if recipient in settings.OTP_SMS_TEST_NUMBERS:
            # django-two-factor-auth's code is its own TOTP, so the listed code cannot stand in: nothing is sent.
            logger.warning("Test number %s: a django-two-factor-auth phone device takes its own code, not the "
                           "listed one; give the test account an SMSDevice named 'default' instead",
                           mask_number(recipient))
            return report_test_number(type(self), device, recipient, TEST_NUMBER_SENT)
        backends = code_sending_gateways()
        if not backends:
            raise ConfigurationError(
                "Every gateway in SMS_GATEWAYS makes its own codes (verifies_codes), so none can send "
                "django-two-factor-auth's code.",
                check_id=E011,
                hint="Add a gateway that sends the text it is given.",
                obj="TWO_FACTOR_SMS_GATEWAY",
            )
        # A broken template raises here, before the send is counted.
        message = build_message(recipient, token, validity=TOTP_VALIDITY)
        spent = 0.0
        if settings.OTP_SMS_RISK_CHECKS:
            from ..risk import run_risk_checks

            spent = run_risk_checks(recipient, device=device)
        # No request reaches a gateway: the client IP comes from SMSRequestMiddleware.
        reservation = limits.check_send(
            recipient, user_id=getattr(device, "user_id", None), sender=type(self),
            confirmed=bool(getattr(device, "confirmed", False)),
        )
        try:
            delivery = send_message(message, backends=backends, spent=spent)
        except DeliveryFailed as failure:
            if not failure.may_have_sent:
                reservation.release()
            DeliveryRecord.record(None, failure.attempts, number=recipient)
            raise
        DeliveryRecord.record(None, delivery.attempts, delivery.result, number=recipient)
        signals.code_sent.send(
            sender=type(self), alias=delivery.alias, number=mask_number(recipient), device=device, delivery=delivery
        )
        return delivery

    def make_call(self, device: Any, token: str) -> None:
        """Voice calls are not supported: raises
        :class:`~django_sms_gateway.exceptions.SMSUnavailable` (the
        :data:`~django_sms_gateway.checks.E010` check reports ``TWO_FACTOR_CALL_GATEWAY``
        pointing here; the error is logged at ERROR)."""
        error = ConfigurationError(
            f"{GATEWAY_PATH} sends text messages only.",
            check_id=E010,
            hint="Set TWO_FACTOR_CALL_GATEWAY to a voice gateway or remove it.",
            obj="TWO_FACTOR_CALL_GATEWAY",
        )
        raise user_safe_error(error) from error


def note_phone_device_verified(sender: Any, device: Any = None, **kwargs: Any) -> None:
    """Receiver of django-two-factor-auth's ``user_verified``: a code its SMS
    ``PhoneDevice`` sent through :class:`Gateway` and the user entered counts
    as a conversion for the fraud guard, as an ``SMSDevice``'s does in
    ``verify_token`` (which counts its own, so it is not counted here)."""
    ours = getattr(django.conf.settings, "TWO_FACTOR_SMS_GATEWAY", None) == GATEWAY_PATH
    if not ours or getattr(device, "method", None) != "sms":
        return
    number = getattr(device, "number", None)
    number = getattr(number, "as_e164", None) or (str(number) if number else "")
    if number:
        limits.note_verified(number, owner=bool(getattr(device, "confirmed", False)) and device.user_id is not None)


def two_factor_problems(backends: list[BaseBackend] | None) -> list[ConfigurationError]:
    """django-two-factor-auth's gateway settings can work: our gateway is not
    its call gateway (E010), and when it is its SMS gateway, django-two-factor-auth
    and its phone plugin are installed (E024) and some gateway of ``backends``
    (all of them built; None when some do not build) sends the text it is
    given (E011)."""
    site = django.conf.settings
    problems: list[ConfigurationError] = []
    missing = [app for app in TWO_FACTOR_APPS if not apps.is_installed(app)]
    if getattr(site, "TWO_FACTOR_SMS_GATEWAY", None) == GATEWAY_PATH and missing:
        named = " and ".join(repr(app) for app in missing)
        problems.append(ConfigurationError(
            f"TWO_FACTOR_SMS_GATEWAY is {GATEWAY_PATH!r}, but {named} {'is' if len(missing) == 1 else 'are'} not "
            "in INSTALLED_APPS, so django-two-factor-auth never sends a text message.",
            check_id=E024,
            hint="Add 'two_factor' and then 'two_factor.plugins.phonenumber' to INSTALLED_APPS, with "
            "'django_otp.plugins.otp_static' and 'django_otp.plugins.otp_totp' (the two-factor page of the docs "
            "lists the whole setup), or remove TWO_FACTOR_SMS_GATEWAY.",
        ))
    if getattr(site, "TWO_FACTOR_CALL_GATEWAY", None) == GATEWAY_PATH:
        problems.append(ConfigurationError(
            f"TWO_FACTOR_CALL_GATEWAY is {GATEWAY_PATH!r}, which sends text messages only.",
            check_id=E010,
            hint="Remove TWO_FACTOR_CALL_GATEWAY or point it at a voice gateway; keep "
            f"TWO_FACTOR_SMS_GATEWAY = {GATEWAY_PATH!r} for text messages.",
        ))
    built = list(backends) if backends is not None else []
    if getattr(site, "TWO_FACTOR_SMS_GATEWAY", None) == GATEWAY_PATH and built \
            and all(backend.verifies_codes for backend in built):
        problems.append(ConfigurationError(
            "TWO_FACTOR_SMS_GATEWAY sends through SMS_GATEWAYS, but every gateway there makes its own codes, "
            "so none can send django-two-factor-auth's code.",
            check_id=E011,
            hint="Add a gateway whose vendor sends the text it is given (Signicat, ZignSec, AccuAuth) "
            "to SMS_GATEWAYS.",
        ))
    return problems


def __getattr__(name: str) -> Any:
    # LoginView subclasses django-two-factor-auth's view, which needs that
    # package installed and its apps loaded; the gateway above must import
    # without them, so the class is made on first use.
    if name == "LoginView":
        view = _login_view()
        globals()[name] = view
        return view
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _login_view() -> type:
    from two_factor.views import LoginView as TwoFactorLoginView
    from two_factor.views.utils import IdempotentSessionWizardView

    from ..models import SMSDevice
    from ..views import restricted_notice

    class LoginView(TwoFactorLoginView):
        """django-two-factor-auth's ``LoginView``; when sending the code on the
        token step fails, that step is shown with a user-safe sentence
        (``sms_error`` in the context) in place of "We sent you a text
        message", from ``failed_template_name``, instead of a 500. A token
        step whose device texts its code (django-two-factor-auth's phone
        device by text message, or an ``SMSDevice``, whose own sentence
        ``sms_sentence`` then stands there) uses that template too, with the
        notice that text messages are the weaker factor (``restricted_notice``,
        ``alternative_url``; see ``OTP_SMS_RESTRICTED_NOTICE``).

        django-two-factor-auth sends a code each time the token step is shown
        (not after a wrong code); each send counts against ``OTP_SMS_LIMITS``.
        """

        #: The token step after a failed send, and for a text-message device:
        #: django-two-factor-auth's own page with the sentence in place of its
        #: "We sent" line and the notice that text messages are the weaker factor.
        failed_template_name = "django_sms_gateway/two_factor/login.html"
        sms_error: str | None = None
        #: What an ``SMSDevice``'s challenge said ("We sent a code by text message to ...").
        sms_sentence: str | None = None

        def render(self, form: Any = None, **kwargs: Any) -> HttpResponse:
            if self.steps.current != self.TOKEN_STEP or (form is not None and form.is_bound and not form.is_valid()):
                return super().render(form, **kwargs)
            try:
                sentence = self.get_device().generate_challenge()
            except Exception as exc:
                # django-two-factor-auth's code (TOTP) stays good whether or not it was sent.
                self.sms_error = kwargs["sms_error"] = user_message(user_safe_error(exc), code_kept=True)
            else:
                if isinstance(sentence, str) and isinstance(self.get_device(), SMSDevice):
                    self.sms_sentence = kwargs["sms_sentence"] = sentence
            # The challenge was made (or failed) above: skip the parent's, which lets errors escape.
            return IdempotentSessionWizardView.render(self, form, **kwargs)

        def texts_a_code(self) -> bool:
            """Whether the token step's device gets its code by text message."""
            device = self.get_device() if self.steps.current == self.TOKEN_STEP else None
            return isinstance(device, SMSDevice) or getattr(device, "method", None) == "sms"

        def get_context_data(self, form: Any, **kwargs: Any) -> dict[str, Any]:
            context: dict[str, Any] = super().get_context_data(form, **kwargs)
            if self.texts_a_code():
                context.update(restricted_notice())
            return context

        def get_template_names(self) -> list[str]:
            if self.sms_error is not None or self.texts_a_code():
                return [self.failed_template_name]
            names: list[str] = super().get_template_names()
            return names

    LoginView.__qualname__ = "LoginView"
    return LoginView
