"""URLs a site includes for the SMS step and vendor webhooks::

    path("sms/", include("django_sms_gateway.urls")),

gives ``/sms/verify/`` (name ``django_sms_gateway:verify``, the SMS step) and
``/sms/webhooks/zignsec/<alias>/`` (name ``django_sms_gateway:zignsec-webhook``),
``/sms/webhooks/twilio/<alias>/`` (``twilio-webhook``),
``/sms/webhooks/vonage/<alias>/`` (``vonage-webhook``),
``/sms/webhooks/aws/<alias>/`` (``aws-webhook``: the HTTPS subscription of
the SNS topic that AWS End User Messaging publishes SMS events to),
``/sms/webhooks/sinch/<alias>/`` (``sinch-webhook``) and
``/sms/webhooks/infobip/<alias>/`` (``infobip-webhook``); the last two are
given to the vendor by the gateway itself, with the alias's secret as the
query, from its ``callback_url`` and ``callback_secret`` (Sinch) or
``notify_url`` and ``notify_secret`` (Infobip) options.
"""

from django.urls import path

from .views import SMSVerifyView
from .webhooks import aws, infobip, sinch, twilio, vonage, zignsec

app_name = "django_sms_gateway"

urlpatterns = [
    path("verify/", SMSVerifyView.as_view(), name="verify"),
    path("webhooks/zignsec/<str:alias>/", zignsec.zignsec_webhook, name="zignsec-webhook"),
    path("webhooks/twilio/<str:alias>/", twilio.twilio_status_webhook, name="twilio-webhook"),
    path("webhooks/vonage/<str:alias>/", vonage.vonage_receipt_webhook, name="vonage-webhook"),
    path("webhooks/aws/<str:alias>/", aws.aws_events_webhook, name="aws-webhook"),
    path("webhooks/sinch/<str:alias>/", sinch.sinch_report_webhook, name="sinch-webhook"),
    path("webhooks/infobip/<str:alias>/", infobip.infobip_report_webhook, name="infobip-webhook"),
]
