"""The cashback ledger: a double-entry book of each brand's money owed to its shoppers.

- `posting`: the only writer of entries, lots, allocations and postings;
- `balances`: balances and statements (the hot paths), and accounts as of any moment;
- `sweep`: time passing (expiry, maturing, announcements, reminders);
- `rules`: what a sale earns and an order may redeem (pure functions of the brand's rules).

It imports no leaf domain (vouchers, referrals, push, auth) and no surface: the use cases in
`retorno.sales` call it together with them.
"""
