"""django-otp's own generic tests, run against SMSDevice."""

from django.test import override_settings
from django_otp.test_utils import CooldownTestMixin, TestCase, ThrottlingTestMixin, TimestampTestMixin

from django_sms_gateway.models import SMSDevice
from django_sms_gateway.testing import SMSOutboxMixin, last_code


class DeviceMixin(SMSOutboxMixin):
    def setUp(self):
        super().setUp()
        user = self.create_user("bob", "secret")
        self.device = SMSDevice.objects.create(user=user, name="phone", number="+4798765432")

    def valid_token(self):
        if not self.sms_outbox:
            self.device.generate_challenge()
        return last_code()

    def invalid_token(self):
        code = self.valid_token()
        return f"{(int(code) + 1) % 1_000_000:06d}"


@override_settings(OTP_SMS_THROTTLE_FACTOR=1, OTP_SMS_COOLDOWN_DURATION=0)
class ThrottlingTests(DeviceMixin, ThrottlingTestMixin, TestCase):
    def setUp(self):
        super().setUp()
        self.device.generate_challenge()


@override_settings(OTP_SMS_COOLDOWN_DURATION=10, OTP_SMS_THROTTLE_FACTOR=0)
class CooldownTests(DeviceMixin, CooldownTestMixin, TestCase):
    pass


@override_settings(OTP_SMS_COOLDOWN_DURATION=0, OTP_SMS_THROTTLE_FACTOR=0)
class TimestampTests(DeviceMixin, TimestampTestMixin, TestCase):
    pass
