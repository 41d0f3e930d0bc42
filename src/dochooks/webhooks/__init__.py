"""Webhook configuration: the records, their validation, URL safety and secrets."""
