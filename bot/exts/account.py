"""/twitter-account and /unlink-twitter: a member sees and removes their own link."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import TweetlinkBot
from bot.unlinking import ConfirmUnlink
from core import errors


class Account(commands.Cog):
    """A member's own link."""

    def __init__(self, bot: TweetlinkBot) -> None:
        self.links = bot.services.links
        self.role_connections = bot.services.role_connections

    @app_commands.command(name="twitter-account", description="Show your linked X account")
    async def twitter_account(self, interaction: discord.Interaction[Any]) -> None:
        """@handle, since when, and whether X still accepts the link."""
        link = await self.links.get(interaction.user.id)
        if link is None:
            message = str(errors.NotLinked())
        else:
            since = discord.utils.format_dt(link.linked_at, "R")
            health = "working" if link.healthy else "revoked at X: run /link-twitter to link again"
            message = f"Linked as @{link.screen_name} since {since}; the link is {health}."
        await interaction.response.send_message(message, ephemeral=True)

    @app_commands.command(name="unlink-twitter", description="Remove your linked X account")
    async def unlink_twitter(self, interaction: discord.Interaction[Any]) -> None:
        """Ask first; the buttons do the work."""
        link = await self.links.get(interaction.user.id)
        if link is None:
            await interaction.response.send_message(str(errors.NotLinked()), ephemeral=True)
            return
        await interaction.response.send_message(
            f"Unlink @{link.screen_name}? The bot will no longer be able to post for you.",
            view=ConfirmUnlink(
                self.links,
                self.role_connections,
                interaction.user.id,
                interaction.user,
            ),
            ephemeral=True,
        )


async def setup(bot: TweetlinkBot) -> None:
    """Add the account cog."""
    await bot.add_cog(Account(bot))
