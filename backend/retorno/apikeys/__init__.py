"""API keys: how a brand's e-commerce, ERP and POS prove who they are to the integration API."""
