"""URLs a site includes for the SMS step and vendor webhooks::

    path("sms/", include("django_sms_gateway.urls")),

gives ``/sms/verify/`` (name ``django_sms_gateway:verify``, the SMS step) and
``/sms/webhooks/zignsec/<alias>/`` (name ``django_sms_gateway:zignsec-webhook``).
"""

from django.urls import path

from . import webhooks
from .views import SMSVerifyView

app_name = "django_sms_gateway"

urlpatterns = [
    path("verify/", SMSVerifyView.as_view(), name="verify"),
    path("webhooks/zignsec/<str:alias>/", webhooks.zignsec_webhook, name="zignsec-webhook"),
]
