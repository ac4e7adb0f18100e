"""Reports for a brand: a period's figures (`service`) and the month's close (`close`)."""
