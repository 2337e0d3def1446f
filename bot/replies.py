"""Answering interactions: ephemeral replies, and domain errors turned into words, in one place."""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import aiohttp
import discord
from discord import app_commands

from core import errors
from core.db import database_unavailable, first_line

log = logging.getLogger(__name__)

UNKNOWN_INTERACTION = 10062  # Discord's code for an interaction whose token ran out
Item = TypeVar("Item")
Callback = Callable[[Item, discord.Interaction[Any]], Coroutine[Any, Any, None]]


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
    """Tell the member what went wrong; log bugs once, with an id the member can quote, and
    Discord's own failures once, in one line."""
    original = getattr(error, "original", error)
    what = interaction.command.qualified_name if interaction.command else "a button"
    if isinstance(original, discord.NotFound) and original.code == UNKNOWN_INTERACTION:
        # Discord gives 3 s for the first answer; later there is nobody left to tell.
        log.warning("the interaction (%s) had expired before the bot answered it", what)
        return
    message = describe(error)
    if isinstance(original, discord.HTTPException | aiohttp.ClientError):
        log.warning("Discord failed an answer to %s: %s", what, first_line(original))
        message = "Discord had trouble delivering the answer; please try again."
    elif database_unavailable(original):
        log.warning("the database is unavailable (%s): %s", what, first_line(original))
        message = (
            "The bot cannot reach its database right now, so nothing was changed. "
            "Please try again in a minute."
        )
    elif message is None:
        error_id = secrets.token_hex(4)
        original = getattr(error, "original", error)
        log.error("unexpected error %s in %s", error_id, what, exc_info=original)
        message = (
            f"Something went wrong on our side. If you ask for help, quote error id {error_id}."
        )
    try:
        await reply(interaction, message)
    except discord.HTTPException:
        log.warning("could not tell user %s about an error", interaction.user.id)


def answers_errors(callback: Callback[Item]) -> Callback[Item]:
    """A button's callback whose failures reach report_error, as a command's do (discord.py
    would only log them, with a traceback, and leave the member waiting)."""

    @functools.wraps(callback)
    async def answered(item: Item, interaction: discord.Interaction[Any]) -> None:
        try:
            await callback(item, interaction)
        except Exception as error:
            await report_error(interaction, error)

    return answered
