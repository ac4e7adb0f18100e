"""Integrations (owner): the brand's store platforms, their webhook addresses and deliveries."""

from __future__ import annotations

from typing import Any

routes: list[Any] = []
