"""Requests written byte for byte, as no browser sends them, and the log staying quiet."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

import pytest


async def exchange(base_url: str, request: bytes) -> tuple[int, str]:
    """Send `request` as it is on a new connection; the answer's status and body."""
    address = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=10)  # until the server closes
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode(errors="replace")


def post(path: str, content_type: str, body: bytes, *, headers: str = "") -> bytes:
    """A POST of `body` as `content_type`; `headers`: more header lines, each ending in CRLF."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{headers}"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def assert_quiet(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing at ERROR, and no traceback at any level."""
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not loud, [r.getMessage() for r in loud]
