"""URLs of the example site: the demo app, plus the package's own URLs
(the ZignSec delivery webhook) when this version of the package has them."""

from importlib.util import find_spec

from django.urls import include, path

urlpatterns = [
    path("", include("demo.urls")),
]

if find_spec("django_sms_gateway.urls") is not None:
    urlpatterns.append(path("sms/", include("django_sms_gateway.urls")))
