"""Outbound webhooks to the Standard Webhooks 1.0 spec: endpoints, deliveries, signing and sending."""
