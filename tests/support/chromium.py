"""A tab in Debian's headless Chromium through Playwright (its own downloads never used)."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
# Root inside a container, and no network: no sandbox, and nothing that phones home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# Fail in seconds rather than Playwright's default 30 s when a page is not what we expect.
TIMEOUT_MS = 10_000

needs_chromium = pytest.mark.skipif(
    not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)),
    reason=f"{CHROMIUM} is missing (scripts/test installs Debian's chromium package)",
)


@asynccontextmanager
async def chromium_page() -> AsyncIterator[Page]:
    """A fresh tab in a fresh browser, closed afterwards."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context()
            try:
                context.set_default_timeout(TIMEOUT_MS)
                yield await context.new_page()
            finally:
                await context.close()
        finally:
            await browser.close()


def starts_with(url: str) -> re.Pattern[str]:
    """A URL pattern matching `url` and anything after it."""
    return re.compile("^" + re.escape(url))
