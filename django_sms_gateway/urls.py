"""URLs a site includes for vendor webhooks::

    path("sms/", include("django_sms_gateway.urls")),

gives ``/sms/webhooks/zignsec/<alias>/`` (name ``django_sms_gateway:zignsec-webhook``).
"""

from django.urls import path

from . import webhooks

app_name = "django_sms_gateway"

urlpatterns = [
    path("webhooks/zignsec/<str:alias>/", webhooks.zignsec_webhook, name="zignsec-webhook"),
]
