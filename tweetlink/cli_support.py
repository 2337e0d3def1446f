"""What every `tweetlink` command shares: settings, the services, and failing in one line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from pydantic import ValidationError

from core import errors
from core.config import Settings, describe_error
from tweetlink.bot_runner import DiscordLoginFailed
from tweetlink.services import Services, open_services


class CommandFailed(Exception):
    """Ends a command with a message for the operator and a non-zero exit."""


def load_settings() -> Settings:
    """The settings, or a one-line explanation of the first bad one."""
    try:
        settings = Settings()  # type: ignore[call-arg]  # values come from the environment
    except ValidationError as error:
        raise CommandFailed(describe_error(error)) from None
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return settings


def run_async(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a command's coroutine; domain errors end it with their words."""
    try:
        asyncio.run(coroutine)
    except (errors.TweetlinkError, DiscordLoginFailed) as error:
        raise CommandFailed(str(error)) from None


def with_services(
    job: Callable[[Services], Awaitable[None]], *, settings: Settings | None = None
) -> None:
    """Run `job` on freshly built services, closed afterwards."""
    settings = settings or load_settings()

    async def run() -> None:
        async with open_services(settings) as services:
            await job(services)

    run_async(run())
