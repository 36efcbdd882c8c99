"""URLs of the django-two-factor-auth login tests: our drop-in LoginView before two_factor's own."""

from django.urls import include, path
from two_factor.urls import urlpatterns as two_factor_urls

from django_sms_gateway.integrations.two_factor import LoginView

urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("", include(two_factor_urls)),
]
