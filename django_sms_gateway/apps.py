from django.apps import AppConfig, apps
from django.utils.translation import gettext_lazy as _


class SMSGatewayConfig(AppConfig):
    name = "django_sms_gateway"
    label = "django_sms_gateway"
    verbose_name = _("SMS second factor")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)

        if apps.is_installed("two_factor"):
            from two_factor.signals import user_verified

            from .integrations.two_factor import note_phone_device_verified

            user_verified.connect(note_phone_device_verified, dispatch_uid="django_sms_gateway.two_factor_conversions")
