"""Serving the web front door on the configured host and port until asked to stop."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from tweetlink.failures import cannot_listen
from tweetlink.services import Services
from web.app import create_app, create_runner

log = logging.getLogger(__name__)


async def serve_web(services: Services, stop: asyncio.Event) -> None:
    """Run the pages until `stop` is set."""
    settings = services.settings
    app = create_app(
        services.links, twitter_api_base=settings.twitter_api_base, ping=services.database_ok
    )
    runner = create_runner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.web_host, settings.web_port)
        try:
            await site.start()
        except OSError as error:
            raise cannot_listen(settings.web_host, settings.web_port, error) from None
        log.info(
            "web pages on http://%s:%s (public URL %s)",
            settings.web_host,
            settings.web_port,
            settings.public_url,
        )
        await stop.wait()
    finally:
        await runner.cleanup()
