"""Customers of a brand, found by external id, CPF, e-mail or phone; created on first sight."""
