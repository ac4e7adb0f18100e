"""The site widget on the brand's host: widget.js and the read-only endpoints it calls."""

from __future__ import annotations

from litestar import Router

router = Router(path="/", route_handlers=[], include_in_schema=False)
