from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The example site's pages: password sign-in, the SMS step, phones."""

    name = "demo"
    verbose_name = "SMS sign-in demo"
