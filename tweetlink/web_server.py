"""Serving the web front door, or the probes alone, on a host and port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from tweetlink.failures import cannot_listen
from tweetlink.services import Services
from web.app import create_app, create_runner, server_log
from web.probes import create_probe_app

log = logging.getLogger(__name__)


async def serve_web(services: Services, stop: asyncio.Event) -> None:
    """Run the pages (with /healthz and /metrics) on WEB_HOST:WEB_PORT until `stop` is set."""
    settings = services.settings
    app = create_app(
        services.links,
        twitter_api_base=settings.twitter_api_base,
        ping=services.database_ok,
        role_connections=services.role_connections,
        discord_base_url=settings.discord_base_url,
        secure_cookies=settings.public_url.startswith("https://"),
    )
    runner = create_runner(app)
    async with _listening(runner, settings.web_host, settings.web_port, "WEB_PORT"):
        log.info(
            "web pages on http://%s:%s (public URL %s)",
            settings.web_host,
            settings.web_port,
            settings.public_url,
        )
        await stop.wait()


@contextlib.asynccontextmanager
async def probes_served(services: Services, port: int) -> AsyncIterator[None]:
    """Serve /healthz and /metrics alone on WEB_HOST:`port` (a bot's METRICS_PORT) inside."""
    host = services.settings.web_host
    runner = web.AppRunner(
        create_probe_app(services.database_ok), access_log=None, logger=server_log
    )
    async with _listening(runner, host, port, "METRICS_PORT"):
        log.info("/healthz and /metrics on http://%s:%s", host, port)
        yield


@contextlib.asynccontextmanager
async def _listening(
    runner: web.AppRunner, host: str, port: int, port_setting: str
) -> AsyncIterator[None]:
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as error:
            raise cannot_listen(host, port, error, port_setting) from None
        yield
    finally:
        await runner.cleanup()
