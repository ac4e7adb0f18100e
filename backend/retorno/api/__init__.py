"""The integration API (/api/v1 on the platform host) for a brand's e-commerce, ERP and POS."""
