"""/twitter-account and /unlink-twitter: a member sees and removes their own link."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import TweetlinkBot
from bot.replies import report_error
from core.links import LinkService


class ConfirmUnlink(discord.ui.View):
    """Unlink or keep, for the member who asked; the buttons expire after two minutes."""

    def __init__(self, links: LinkService, member_id: int) -> None:
        super().__init__(timeout=120)
        self.links = links
        self.member_id = member_id

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        return interaction.user.id == self.member_id

    @discord.ui.button(label="Unlink", style=discord.ButtonStyle.danger)
    async def unlink(
        self, interaction: discord.Interaction[Any], _: discord.ui.Button[Any]
    ) -> None:
        """Remove the link here and revoke the token at X."""
        self.stop()
        await interaction.response.defer()
        unlinked = await self.links.unlink(self.member_id)
        message = f"Unlinked @{unlinked.link.screen_name}. "
        if unlinked.revoked_at_twitter:
            message += "X has revoked the bot's access too."
        else:
            message += (
                "X could not be reached, so the access was deleted here but not revoked at X; "
                "you can revoke it yourself at https://x.com/settings/connected_apps."
            )
        await interaction.edit_original_response(content=message, view=None)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(
        self, interaction: discord.Interaction[Any], _: discord.ui.Button[Any]
    ) -> None:
        """Keep the link."""
        self.stop()
        await interaction.response.edit_message(content="Kept your link.", view=None)

    async def on_error(
        self, interaction: discord.Interaction[Any], error: Exception, _: discord.ui.Item[Any]
    ) -> None:
        await report_error(interaction, error)


class Account(commands.Cog):
    """A member's own link."""

    def __init__(self, bot: TweetlinkBot) -> None:
        self.links = bot.services.links

    @app_commands.command(name="twitter-account", description="Show your linked X account")
    async def twitter_account(self, interaction: discord.Interaction[Any]) -> None:
        """@handle, since when, and whether X still accepts the link."""
        link = await self.links.get(interaction.user.id)
        if link is None:
            message = "No X account is linked. Run /link-twitter to link one."
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
            await interaction.response.send_message("No X account is linked.", ephemeral=True)
            return
        await interaction.response.send_message(
            f"Unlink @{link.screen_name}? The bot will no longer be able to post for you.",
            view=ConfirmUnlink(self.links, interaction.user.id),
            ephemeral=True,
        )


async def setup(bot: TweetlinkBot) -> None:
    """Add the account cog."""
    await bot.add_cog(Account(bot))
