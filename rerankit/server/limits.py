"""Request body size limit as a plain ASGI middleware: oversized bodies get 413 before any parsing.

A declared Content-Length over the limit is refused at once; a chunked body is counted as it streams and
refused as soon as it passes the limit, so the server never buffers more than `max_bytes` of one request.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from rerankit.server.errors import error_body

__all__ = ["BodySizeLimit", "send_json"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    """Send a complete JSON response from ASGI middleware."""
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodySizeLimit:
    """Refuse request bodies larger than `max_bytes` with 413 and a JSON error naming the limit."""

    def __init__(self, app: Callable[..., Awaitable[None]], max_bytes: int) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)

    def _too_large(self, size: int | str) -> dict[str, Any]:
        return error_body("body_too_large", f"request body too large ({size} bytes); this server accepts at most "
                                            f"{self.max_bytes} bytes per request (send fewer or shorter passages)")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                n = int(declared)
            except ValueError:
                await send_json(send, 400, error_body("invalid_request", f"invalid Content-Length header {declared!r}"))
                return
            if n > self.max_bytes:
                await send_json(send, 413, self._too_large(n))
                return
        chunks: list[bytes] = []
        total = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                await send_json(send, 413, self._too_large(f"more than {total}"))
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
