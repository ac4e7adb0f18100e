"""Small in-process caches with a time limit, for what every request looks up (brand by host).

Each process keeps its own copy for a few seconds, so a change made by another process (an
import, an admin edit, a revoked key) is seen everywhere within `SECONDS`; the process that makes
the change clears its own copy at once. `db.use()` clears them all: another database, other data.
"""

from __future__ import annotations

import time
from typing import Any

SECONDS = 5.0
MAX_ENTRIES = 10_000
_caches: list[TTLCache] = []


class TTLCache:
    def __init__(self, seconds: float = SECONDS) -> None:
        self.seconds = seconds
        self._data: dict[Any, tuple[float, Any]] = {}
        _caches.append(self)

    def get(self, key: Any, default: Any = None) -> Any:
        hit = self._data.get(key)
        if hit is None or hit[0] < time.monotonic():
            return default
        return hit[1]

    def put(self, key: Any, value: Any) -> None:
        if len(self._data) >= MAX_ENTRIES:  # a flood of made-up hosts must not grow it without end
            self._data.clear()
        self._data[key] = (time.monotonic() + self.seconds, value)

    def clear(self) -> None:
        self._data.clear()


_pending = False


def clear_all() -> None:
    """Forget everything now, and again once the transaction that made the change commits
    (`db.write` calls `after_commit`): a request in between must not cache the old values."""
    global _pending
    _pending = True
    for cache in _caches:
        cache.clear()


def after_commit() -> None:
    global _pending
    if _pending:
        _pending = False
        for cache in _caches:
            cache.clear()
