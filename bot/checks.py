"""Who may run admin commands, checked in code on every call (Discord's UI hiding is not enough)."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.client import TweetlinkBot


class NotOperator(app_commands.CheckFailure):
    """Only the bot's operators may do this."""

    def __init__(self) -> None:
        super().__init__("Only the bot's operators can do that.")


class NotManager(app_commands.CheckFailure):
    """Only the server's managers (Manage Server) may do this."""

    def __init__(self) -> None:
        super().__init__("You need the Manage Server permission for that.")


async def is_operator(interaction: discord.Interaction[Any]) -> bool:
    """The application's owner (or team) and ADMIN_USER_IDS."""
    bot: TweetlinkBot = interaction.client
    if interaction.user.id in bot.services.settings.admin_user_ids:
        return True
    return await bot.is_owner(interaction.user)


def is_manager(interaction: discord.Interaction[Any]) -> bool:
    """Manage Server in this server, as Discord resolved it for this interaction."""
    return interaction.guild_id is not None and interaction.permissions.manage_guild


async def require_operator(interaction: discord.Interaction[Any]) -> None:
    """Refuse anyone but an operator."""
    if not await is_operator(interaction):
        raise NotOperator()


def require_manager(interaction: discord.Interaction[Any]) -> None:
    """Refuse anyone without Manage Server here."""
    if not is_manager(interaction):
        raise NotManager()
