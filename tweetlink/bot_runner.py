"""Running the Discord bot (built in its own issue)."""

from __future__ import annotations

import asyncio

from tweetlink.services import Services


class BotNotBuilt(Exception):
    """The Discord half is not part of this build yet."""


async def run_bot(services: Services, stop: asyncio.Event) -> None:
    """Run the Discord bot until `stop` is set."""
    raise BotNotBuilt("the Discord bot is not built yet; `tweetlink web` serves the pages")


async def check_discord(services: Services) -> tuple[str, bool]:
    """Log in to Discord and report the bot's invite URL."""
    return "the Discord bot is not built yet", True
