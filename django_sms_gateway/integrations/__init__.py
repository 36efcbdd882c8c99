"""Adapters that let other Django packages send through ``SMS_GATEWAYS``."""
