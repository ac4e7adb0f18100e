"""The brand's store platforms (Shopify, WooCommerce, Nuvemshop): connections, the webhooks they
send, and the single-use discount codes that spend cashback at their checkout."""
