"""The Discord bot: resources from the composition root, one extension per feature."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.replies import describe, report_error
from core import metrics
from core.audit import AuditLog
from core.config import Settings
from core.links import LinkService
from core.policy import PolicyService
from core.role_connections import RoleConnectionService
from core.tweets import TweetService
from core.usage import UsageService

log = logging.getLogger(__name__)

EXTENSIONS = ("bot.exts.linking", "bot.exts.account", "bot.exts.tweeting", "bot.exts.admin")


@dataclass(frozen=True)
class BotServices:
    """What the bot's features use; built by the composition root."""

    settings: Settings
    links: LinkService
    tweets: TweetService
    policy: PolicyService
    usage: UsageService
    audit: AuditLog
    role_connections: RoleConnectionService


class TweetlinkTree(app_commands.CommandTree["TweetlinkBot"]):
    """The command tree, with one error handler for every slash command."""

    async def on_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        outcome = "refused" if describe(error) is not None else "failed"
        metrics.INTERACTIONS.labels(_command_name(interaction), outcome).inc()
        await report_error(interaction, error)


def _command_name(interaction: discord.Interaction[Any]) -> str:
    return interaction.command.qualified_name if interaction.command else "unknown"


class TweetlinkBot(commands.AutoShardedBot):
    """tweetlink's bot: slash commands only, so it needs no privileged intents.

    Auto-sharded, as Discord asks of a bot in many servers: it runs the shards `/gateway/bot`
    recommends (one for a small bot), or the `shard_ids` of `shard_count` it is given when the
    shards are spread over several processes. Only one process syncs the command tree.
    """

    def __init__(
        self, services: BotServices, *, syncs_commands: bool = True, **options: Any
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=TweetlinkTree,
            help_command=None,
            **options,
        )
        self.services = services
        self.syncs_commands = syncs_commands

    async def setup_hook(self) -> None:
        """Load the features, then sync the command tree once (never on reconnects)."""
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if not self.syncs_commands:
            log.info(
                "running shards %s; the process with shard 0 syncs the commands", self.shard_ids
            )
            return
        guild_id = self.services.settings.dev_guild_id
        if guild_id is None:
            synced = await self.tree.sync()
        else:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        log.info(
            "synced %d commands %s",
            len(synced),
            f"to server {guild_id}" if guild_id else "globally",
        )

    async def on_app_command_completion(
        self,
        interaction: discord.Interaction[Any],
        command: app_commands.Command[Any, ..., Any] | app_commands.ContextMenu,
    ) -> None:
        """Count a command that ran to its end (errors are counted by the tree)."""
        metrics.INTERACTIONS.labels(command.qualified_name, "ok").inc()

    async def on_ready(self) -> None:
        """Say who we are once connected."""
        log.info("logged in to Discord as %s (%s)", self.user, self.user.id if self.user else "?")
