"""`python -m tests.support.tweetlink_on_fake_discord COMMAND…`: tweetlink's command line with
discord.py aimed at our fake Discord, so that production code carries no switch for it.

The fake's addresses come from FAKE_DISCORD_API_BASE and FAKE_DISCORD_GATEWAY_URL
(`fake_discord_environment` gives both).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import discord
import yarl

from tests.fakes.discord import FakeDiscord
from tweetlink.cli import main

MODULE = "tests.support.tweetlink_on_fake_discord"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def fake_discord_environment(fake: FakeDiscord) -> dict[str, str]:
    """The variables that aim a process started with this module at `fake` (and let it import
    this module from any working directory)."""
    return {
        "PYTHONPATH": str(PROJECT_ROOT),
        "DISCORD_TOKEN": fake.token,
        "FAKE_DISCORD_API_BASE": fake.api_base,
        "FAKE_DISCORD_GATEWAY_URL": fake.gateway_url,
    }


def aim_discord_py_at_the_fake() -> None:
    """Point discord.py's REST base and gateway at the fake named in the environment."""
    discord.http.Route.BASE = os.environ["FAKE_DISCORD_API_BASE"]
    gateway = yarl.URL(os.environ["FAKE_DISCORD_GATEWAY_URL"])
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway


if __name__ == "__main__":
    aim_discord_py_at_the_fake()
    main(sys.argv[1:])
