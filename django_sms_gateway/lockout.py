"""The lock-out reason a device gives once ``OTP_SMS_MAX_FAILURES`` wrong codes were entered."""

#: ``SMSDevice.verify_is_allowed()``'s reason once ``OTP_SMS_MAX_FAILURES`` is reached.
REBIND_REQUIRED = "rebind_required"
