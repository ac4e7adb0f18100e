"""The site widget (owner): the script tag to copy, the store's origins, the launcher."""

from __future__ import annotations

from typing import Any

routes: list[Any] = []
