"""URLs a site includes for the SMS step and vendor webhooks::

    path("sms/", include("django_sms_gateway.urls")),

gives ``/sms/verify/`` (name ``django_sms_gateway:verify``, the SMS step) and
``/sms/webhooks/zignsec/<alias>/`` (name ``django_sms_gateway:zignsec-webhook``),
``/sms/webhooks/twilio/<alias>/`` (``twilio-webhook``),
``/sms/webhooks/vonage/<alias>/`` (``vonage-webhook``) and
``/sms/webhooks/aws/<alias>/`` (``aws-webhook``: the HTTPS subscription of
the SNS topic that AWS End User Messaging publishes SMS events to).
"""

from django.urls import path

from .views import SMSVerifyView
from .webhooks import aws, twilio, vonage, zignsec

app_name = "django_sms_gateway"

urlpatterns = [
    path("verify/", SMSVerifyView.as_view(), name="verify"),
    path("webhooks/zignsec/<str:alias>/", zignsec.zignsec_webhook, name="zignsec-webhook"),
    path("webhooks/twilio/<str:alias>/", twilio.twilio_status_webhook, name="twilio-webhook"),
    path("webhooks/vonage/<str:alias>/", vonage.vonage_receipt_webhook, name="vonage-webhook"),
    path("webhooks/aws/<str:alias>/", aws.aws_events_webhook, name="aws-webhook"),
]
