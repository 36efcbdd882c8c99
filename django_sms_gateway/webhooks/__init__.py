"""Vendor webhooks: delivery reports that update :class:`~django_sms_gateway.models.DeliveryRecord` rows.

One module per vendor on :mod:`.base` (like django-anymail's webhooks).
Include ``django_sms_gateway.urls`` in the site's URLconf (for example under
``sms/``) and give ZignSec ``https://example.com/sms/webhooks/zignsec/<alias>/``
as the gateway's ``webhook_url`` option (Twilio's ``status_callback`` and
Vonage's ``callback`` take ``.../twilio/<alias>/`` and ``.../vonage/<alias>/``).
"""
