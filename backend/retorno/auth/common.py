"""What the sign-in modules share: the hash the database keeps of a secret, and the errors they raise.

A session token or a WebAuthn challenge is never stored, only its SHA-256 (`sha256`), so a copy
of the database signs nobody in.
"""

from __future__ import annotations

import hashlib

from retorno.errors import DomainError, Invalid


class TooManyRequests(DomainError):
    """A rate limit was hit (ratelimits.py); answered 429 with Retry-After (see app.py)."""

    status_code = 429
    title = "Too many requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many attempts. Wait a few minutes and try again.")
        self.retry_after = retry_after


class WrongCode(Invalid):
    def __init__(self) -> None:
        super().__init__("The code is wrong or has expired. Ask for a new one.")


class CodeUsedUp(Invalid):
    """The live codes for the address had all their tries: even the right one is not compared."""

    def __init__(self) -> None:
        super().__init__("This code had too many wrong tries and no longer works. Ask for a new one.")


class PasskeyRefused(Invalid):
    def __init__(self) -> None:
        super().__init__("This passkey could not be verified.")


def sha256(value: str | bytes) -> str:
    return hashlib.sha256(value.encode() if isinstance(value, str) else value).hexdigest()
