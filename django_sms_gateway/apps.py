from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SMSGatewayConfig(AppConfig):
    name = "django_sms_gateway"
    label = "django_sms_gateway"
    verbose_name = _("SMS second factor")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
