"""Audit: who changed what in a brand, written in the same transaction as the change."""
