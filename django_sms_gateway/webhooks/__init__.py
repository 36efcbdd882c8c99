"""Vendor webhooks: delivery reports that update :class:`~django_sms_gateway.models.DeliveryRecord` rows.

One module per vendor on :mod:`.base` (like django-anymail's webhooks).
Include ``django_sms_gateway.urls`` in the site's URLconf (for example under
``sms/``) and give ZignSec ``https://example.com/sms/webhooks/zignsec/<alias>/``
as the gateway's ``webhook_url`` option.
"""

from .zignsec import zignsec_webhook

__all__ = ["zignsec_webhook"]
