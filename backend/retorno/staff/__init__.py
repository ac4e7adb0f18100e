"""Staff: who works in the admin, for which brands, with which role.

A domain of its own, below sign-in: `retorno.auth` (sessions, passkeys, guards) and audit and
imports depend on it; it depends on none of them.
"""
