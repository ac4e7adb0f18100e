"""Points: the rewards catalogue a brand keeps and what its shoppers redeem from it (the points
themselves are the ledger's, in its "pts" unit)."""
