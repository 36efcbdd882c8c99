"""A drop-in ``LoginView`` for django-two-factor-auth that shows our user-safe
sentence when the SMS cannot be sent, where its own view answers with a
server error.

In the site's URLs, before ``two_factor``'s own::

    from django_sms_gateway.integrations.two_factor import LoginView

    path("account/login/", LoginView.as_view(), name="login")

Import it from :mod:`django_sms_gateway.integrations.two_factor`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.forms.utils import ErrorDict
from django.http import HttpResponse
from two_factor.views import LoginView as TwoFactorLoginView
from two_factor.views.utils import IdempotentSessionWizardView

from ..exceptions import user_message, user_safe_error

__all__ = ["LoginView"]


class LoginView(TwoFactorLoginView):
    """django-two-factor-auth's ``LoginView``; when sending the code on the
    token step fails, that step is shown with a user-safe sentence as the
    form's error (``sms_error`` in the context too) instead of a 500.

    django-two-factor-auth sends a code each time the token step is shown
    (not after a wrong code); each send counts against ``OTP_SMS_LIMITS``.
    """

    def render(self, form: Any = None, **kwargs: Any) -> HttpResponse:
        if self.steps.current != self.TOKEN_STEP or (form is not None and form.is_bound and not form.is_valid()):
            return super().render(form, **kwargs)
        try:
            self.get_device().generate_challenge()
        except Exception as exc:
            sentence = user_message(user_safe_error(exc))
            form = form or self.get_form()
            if form.is_bound:
                form.add_error(None, sentence)
            else:  # add_error() needs a cleaned form; the step's first showing is unbound
                form._errors = ErrorDict({NON_FIELD_ERRORS: form.error_class([sentence], error_class="nonfield")})
            kwargs["sms_error"] = sentence
        # The challenge was made (or failed) above: skip the parent's, which lets errors escape.
        return IdempotentSessionWizardView.render(self, form, **kwargs)
