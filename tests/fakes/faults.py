"""Broken answers for a fake server: X (or whatever sits in front of it) failing mid-answer.

A `Faults` is an aiohttp middleware. `break_next("POST /2/tweets", "reset")` makes the next
request to that endpoint go through the real handler (so X did what was asked: the tweet is
recorded, the token revoked), then spoils the answer, once:

=========== ================================================================================
fault       what the client gets
=========== ================================================================================
html 500    500 with an HTML error page, as a proxy in front of X sends it
reset       the status line, headers and half the body, then the connection closed
slow        the right answer, `slow_seconds` late (set it past the client's timeout)
not json    200 with an HTML body where JSON was due
=========== ================================================================================

Every fault is one-shot: it is spent by the request it spoils.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Literal, get_args

from aiohttp import web

Fault = Literal["html 500", "reset", "slow", "not json"]
FAULTS: tuple[Fault, ...] = get_args(Fault)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_ERROR_PAGE = b"<html><body><h1>Internal Server Error</h1></body></html>"


class Faults:
    """One-shot broken answers, by endpoint ("METHOD /path")."""

    def __init__(self, *, slow_seconds: float = 30.0) -> None:
        self.slow_seconds = slow_seconds
        self._next: dict[str, list[Fault]] = {}
        self._closing = asyncio.Event()

    def break_next(self, endpoint: str, fault: Fault) -> None:
        """Spoil the answer to the next request to `endpoint`; calls queue up."""
        if fault not in FAULTS:
            raise ValueError(f"no such fault: {fault!r}; one of {FAULTS}")
        self._next.setdefault(endpoint, []).append(fault)

    def close(self) -> None:
        """Cut short any slow answer, so a test whose client gave up does not wait it out."""
        self._closing.set()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        queued = self._next.get(f"{request.method} {request.path}")
        if not queued:
            return await handler(request)
        fault = queued.pop(0)
        answer = await handler(request)  # X did its part; only the answer goes wrong
        if fault == "html 500":
            return web.Response(status=500, body=_ERROR_PAGE, content_type="text/html")
        if fault == "not json":
            return web.Response(status=200, body=_ERROR_PAGE, content_type="text/html")
        if fault == "slow":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.slow_seconds)
            return answer
        return await _reset_midway(request, answer)


async def _reset_midway(request: web.Request, answer: web.StreamResponse) -> web.StreamResponse:
    """Send the answer's head and half its body, then drop the connection."""
    body = answer.body if isinstance(answer, web.Response) and answer.body else b"{}"
    assert isinstance(body, bytes)
    broken = web.StreamResponse(status=answer.status, headers={"Content-Length": str(len(body))})
    broken.content_type = answer.content_type
    await broken.prepare(request)
    await broken.write(body[: len(body) // 2])
    assert request.transport is not None
    request.transport.close()
    return broken
