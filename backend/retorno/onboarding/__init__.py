"""Use cases that bring someone in: a brand from its pack (with its push keys), a shopper joining
by an e-mail code (their customer record, consents and the invitation that brought them)."""
