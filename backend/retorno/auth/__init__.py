"""Signing in without passwords: e-mail codes, then passkeys; sessions, rate limits, staff."""
