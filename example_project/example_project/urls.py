"""URLs of the example site: the demo app, and the package's own URLs (the
SMS step at ``sms/verify/`` and the ZignSec delivery webhook)."""

from django.urls import include, path

urlpatterns = [
    path("", include("demo.urls")),
    path("sms/", include("django_sms_gateway.urls")),
]
