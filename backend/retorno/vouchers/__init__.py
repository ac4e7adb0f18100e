"""Vouchers: issued by purchases, checked and used at the till or by the API."""
