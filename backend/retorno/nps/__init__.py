"""NPS: after a purchase, how likely a shopper is to recommend the brand, and what they said."""
