"""Imports of past sales from CSV, through the ledger's idempotent record_sale; large files in the worker."""
