"""Signing in without passwords: e-mail codes, then passkeys; sessions, rate limits.

- ratelimits.py: GCRA buckets every process shares; codes.py: 6-digit codes by e-mail;
  sessions.py: the cookie's token, kept hashed; passkeys.py: WebAuthn ceremonies and the
  passkeys' list; retention.py: what sign-in forgets (a deleted shopper, expired rows);
  common.py: the shared hash and errors.
- The web side (guards, the routes both hosts share) is `retorno.signin`; a shopper signing in
  or joining with a code is `retorno.onboarding.shoppers`.
- Staff members are their own domain, retorno.staff: modules here import it, it never imports
  retorno.auth (the staff tables' migrations stay with this package's Piccolo app).
Nothing here logs a code, a token or key material.
"""
