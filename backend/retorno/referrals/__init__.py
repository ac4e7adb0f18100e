"""Invite a friend: codes, attribution, verdicts with fraud checks; rewards are credited by
`retorno.sales.rewards`."""
