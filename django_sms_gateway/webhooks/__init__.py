"""Vendor webhooks: delivery reports that update :class:`~django_sms_gateway.models.DeliveryRecord` rows.

One module per vendor on :mod:`.base` (like django-anymail's webhooks).
Include ``django_sms_gateway.urls`` in the site's URLconf (for example under
``sms/``) and give ZignSec ``https://example.com/sms/webhooks/zignsec/<alias>/``
as the gateway's ``webhook_url`` option (Twilio's ``status_callback`` and
Vonage's ``callback`` take ``.../twilio/<alias>/`` and ``.../vonage/<alias>/``).
"""

from .twilio import twilio_status_webhook
from .vonage import vonage_receipt_webhook
from .zignsec import zignsec_webhook

__all__ = ["twilio_status_webhook", "vonage_receipt_webhook", "zignsec_webhook"]
