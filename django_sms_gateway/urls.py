"""URLs a site includes for vendor webhooks::

    path("sms/", include("django_sms_gateway.urls")),

gives ``/sms/webhooks/zignsec/<alias>/`` (name ``django_sms_gateway:zignsec-webhook``),
``/sms/webhooks/twilio/<alias>/`` (``twilio-webhook``) and
``/sms/webhooks/vonage/<alias>/`` (``vonage-webhook``).
"""

from django.urls import path

from . import webhooks
from .webhooks import twilio, vonage

app_name = "django_sms_gateway"

urlpatterns = [
    path("webhooks/zignsec/<str:alias>/", webhooks.zignsec_webhook, name="zignsec-webhook"),
    path("webhooks/twilio/<str:alias>/", twilio.twilio_status_webhook, name="twilio-webhook"),
    path("webhooks/vonage/<str:alias>/", vonage.vonage_receipt_webhook, name="vonage-webhook"),
]
