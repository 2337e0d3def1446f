"""Answering interactions: ephemeral replies, and domain errors turned into words, in one place."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import discord
from discord import app_commands

from core import errors

log = logging.getLogger(__name__)


async def reply(interaction: discord.Interaction[Any], content: str, **kwargs: Any) -> None:
    """An ephemeral answer, whether or not the interaction was already answered or deferred."""
    if interaction.response.is_done():
        await interaction.followup.send(content, ephemeral=True, **kwargs)
    else:
        await interaction.response.send_message(content, ephemeral=True, **kwargs)


def describe(error: BaseException) -> str | None:
    """Words for an error a member can act on, or None for a bug."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, errors.TweetCooldown):
        return (
            f"You are posting too fast; try again {discord.utils.format_dt(error.retry_at, 'R')}."
        )
    if isinstance(error, errors.TwitterRateLimited) and error.reset_at is not None:
        when = discord.utils.format_dt(error.reset_at, "R")
        return f"X's rate limit was reached, so {error.outcome}. It resets {when}."
    if isinstance(error, errors.TwitterAuthRevoked):
        return str(errors.LinkRevoked())
    if isinstance(error, errors.TweetlinkError):
        return str(error)
    if isinstance(error, app_commands.TransformerError):
        return "One of the options has a value I cannot use here; please pick another."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works in a server, not in DMs."
    if isinstance(error, app_commands.CheckFailure):
        # Checks carry their words; discord.py's bare CheckFailure has none worth showing.
        if type(error) is not app_commands.CheckFailure and error.args:
            return str(error)
        return "You are not allowed to use this command."
    return None


async def report_error(interaction: discord.Interaction[Any], error: BaseException) -> None:
    """Tell the member what went wrong; log bugs once, with an id the member can quote."""
    message = describe(error)
    if message is None:
        error_id = secrets.token_hex(4)
        original = getattr(error, "original", error)
        log.error(
            "unexpected error %s in %s",
            error_id,
            interaction.command.qualified_name if interaction.command else "a component",
            exc_info=original,
        )
        message = (
            f"Something went wrong on our side. If you ask for help, quote error id {error_id}."
        )
    try:
        await reply(interaction, message)
    except discord.HTTPException:
        log.warning("could not tell user %s about an error", interaction.user.id)
