"""The use cases that move a shopper's cashback, above the domains they span.

- `orders`: recording a sale, a refund, a cancellation;
- `redemptions`: a quote, paying with cashback, cancelling that;
- `rewards`: invitation rewards credited and taken back, and staff's review of a referral;
- `adjustments`: a manual credit or debit by staff.

Each opens the one write transaction, locks every customer whose money it moves, calls the ledger
to post, vouchers and referrals to issue, decide or void, writes the events to the outbox, and
stores the answer a retry replays. The ledger, vouchers and referrals never call each other.
"""
