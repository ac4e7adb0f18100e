"""Imports of past sales from CSV, through `sales.orders.record` as the API; large files in the worker."""
