from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", views.PasswordLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/phones/", views.phones, name="phones"),
    path("account/phones/<int:pk>/confirm/", views.confirm_phone, name="phone-confirm"),
    path("account/phones/<int:pk>/send/", views.send_phone_code, name="phone-send"),
    path("account/phones/<int:pk>/remove/", views.remove_phone, name="phone-remove"),
]
