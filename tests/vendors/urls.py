"""A site that includes the package's URLs the way the installation docs say."""

from django.urls import include, path

urlpatterns = [path("sms/", include("django_sms_gateway.urls"))]
