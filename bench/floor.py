"""The floor every HTTP benchmark is measured against (issue 21), served by uvicorn as `retorno
serve` serves (httptools, uvloop, no access log), pinned to the same core in the same run:

- `litestar_app`: a bare Litestar app with one JSON handler, the framework with nothing of ours;
- `asgi_app`: a raw ASGI hello answering a fixed JSON body, for reference (uvicorn alone).

A path's ratio to bare Litestar says what the request path, the queries and the template cost on
top of the framework; its ratio to `/healthz` what they cost on top of Retorno's own request path.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, get


@get("/", sync_to_thread=False)
def hello() -> dict[str, str]:
    return {"status": "ok"}


litestar_app = Litestar([hello])

_BODY = b'{"status":"ok"}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())]


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})
