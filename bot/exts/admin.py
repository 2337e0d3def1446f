"""/twitter-admin: operators unlink anyone; server managers govern their own server."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.checks import is_operator, require_manager, require_operator
from bot.client import TweetlinkBot
from bot.unlinking import ConfirmUnlink
from core import errors
from core.audit import Actor
from core.models import Tweet
from core.policy import MAX_CAP, Policy
from core.tweets import tweet_url
from core.usage import Usage

log = logging.getLogger(__name__)

Reason = app_commands.Range[str, 1, 300]
REASON_HELP = "Why (kept in the audit log)"
Cap = app_commands.Range[int, 0, MAX_CAP]


def tweet_line(tweet: Tweet) -> str:
    """One tweet of a lookup: where it is, or what became of it."""
    if tweet.tweet_id is None:
        return "unknown: X may or may not have posted it"
    url = tweet_url(tweet.screen_name, tweet.tweet_id)
    if tweet.deleted_at is not None:
        return f"{url} (deleted {discord.utils.format_dt(tweet.deleted_at, 'R')})"
    return url


def mention(user_id: int | None) -> str:
    """A user mention, or the command line for actions taken there."""
    return "the command line" if user_id is None else f"<@{user_id}>"


def describe_policy(policy: Policy, defaults: tuple[int, int]) -> str:
    """The server's rules, one per line."""
    member_default, server_default = defaults
    role = f"<@&{policy.required_role_id}>" if policy.required_role_id else "none"
    channel = f"<#{policy.announce_channel_id}>" if policy.announce_channel_id else "none"
    server_cap = policy.daily_cap if policy.daily_cap is not None else f"{server_default} (default)"
    member_cap = (
        policy.member_daily_cap
        if policy.member_daily_cap is not None
        else f"{member_default} (default, across servers)"
    )
    return (
        f"Tweeting: {'on' if policy.tweeting_enabled else 'off'}\n"
        f"Required role: {role}\n"
        f"Tweets per day for this server: {server_cap}\n"
        f"Tweets per day per member: {member_cap}\n"
        f"Announcement channel: {channel}"
    )


def describe_usage(title: str, usage: list[Usage]) -> str:
    """Posts and estimated cost per window."""
    lines = [title]
    for window in usage:
        days = "24 hours" if window.days == 1 else f"{window.days} days"
        lines.append(
            f"Last {days}: {window.posts} posts ({window.posts_with_url} with a link), "
            f"about ${window.cost_usd:.3f}"
        )
    return "\n".join(lines)


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class TwitterAdmin(commands.GroupCog, group_name="twitter-admin"):
    """Admin commands; each checks the caller's rights itself."""

    def __init__(self, bot: TweetlinkBot) -> None:
        self.bot = bot
        self.services = bot.services

    def actor(self, interaction: discord.Interaction[Any]) -> Actor:
        return Actor(interaction.user.id)

    @app_commands.command(description="Remove a member's X link everywhere (operators only)")
    @app_commands.describe(member="Whose link to remove", reason=REASON_HELP)
    async def unlink(
        self,
        interaction: discord.Interaction[Any],
        member: discord.User,
        reason: Reason | None = None,
    ) -> None:
        """Ask for confirmation; the button does the work."""
        await require_operator(interaction)
        link = await self.services.links.get(member.id)
        if link is None:
            raise errors.NotLinked()
        await interaction.response.send_message(
            f"Unlink @{link.screen_name} from {member.mention}? Their token will be revoked.",
            view=ConfirmUnlink(
                self.services.links,
                self.services.role_connections,
                interaction.user.id,
                member,
                by_operator=True,
                reason=reason,
            ),
            ephemeral=True,
        )

    @app_commands.command(description="Stop a member posting to X in this server")
    @app_commands.describe(member="Who may not post here", reason=REASON_HELP)
    async def block(
        self,
        interaction: discord.Interaction[Any],
        member: discord.User,
        reason: Reason | None = None,
    ) -> None:
        """Block the member here; other servers are untouched."""
        require_manager(interaction)
        assert interaction.guild_id is not None
        done = await self.services.policy.block(
            self.actor(interaction), interaction.guild_id, member.id, reason
        )
        message = (
            f"{member.mention} can no longer post to X from this server."
            if done
            else f"{member.mention} was already blocked here."
        )
        await interaction.response.send_message(message, ephemeral=True)

    @app_commands.command(description="Let a blocked member post to X in this server again")
    @app_commands.describe(member="Who may post here again", reason=REASON_HELP)
    async def unblock(
        self,
        interaction: discord.Interaction[Any],
        member: discord.User,
        reason: Reason | None = None,
    ) -> None:
        """Lift a block in this server."""
        require_manager(interaction)
        assert interaction.guild_id is not None
        done = await self.services.policy.unblock(
            self.actor(interaction), interaction.guild_id, member.id, reason
        )
        message = (
            f"{member.mention} can post to X from this server again."
            if done
            else f"{member.mention} was not blocked here."
        )
        await interaction.response.send_message(message, ephemeral=True)

    @app_commands.command(description="A member's link, tweets and audit trail")
    @app_commands.describe(member="Whom to look up")
    async def lookup(self, interaction: discord.Interaction[Any], member: discord.User) -> None:
        """Operators see everything; managers see their own server's numbers."""
        operator = await is_operator(interaction)
        if not operator:
            require_manager(interaction)
        guild_id = interaction.guild_id
        scope = None if operator else guild_id
        link = await self.services.links.get(member.id)
        day, month = await self.services.usage.member_posts(member.id, guild_id=scope)
        lines = [f"**{member}** ({member.id})"]
        if link is None:
            lines.append("Not linked.")
        else:
            since = discord.utils.format_dt(link.linked_at, "R")
            health = "working" if link.healthy else "revoked at X"
            lines.append(f"Linked as @{link.screen_name} since {since}; {health}.")
        where = "everywhere" if scope is None else "in this server"
        lines.append(f"Tweets {where}: {day} in the last 24 hours, {month} in 30 days.")
        for tweet in await self.services.usage.recent_tweets(member.id, guild_id=scope):
            lines.append(f"- {discord.utils.format_dt(tweet.created_at, 'R')}: {tweet_line(tweet)}")
        if guild_id is not None and await self.services.policy.is_blocked(guild_id, member.id):
            lines.append("Blocked from posting in this server.")
        entries = await self.services.audit.recent(target_id=member.id, limit=20)
        visible = [e for e in entries if operator or e.guild_id in (None, guild_id)][:5]
        for entry in visible:
            when = discord.utils.format_dt(entry.created_at, "R")
            why = f" ({entry.reason})" if entry.reason else ""
            lines.append(f"- {when}: {entry.action} by {mention(entry.actor_id)}{why}")
        await interaction.response.send_message(
            "\n".join(lines), ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    @app_commands.command(description="Show or change this server's rules for posting to X")
    @app_commands.describe(
        tweeting="Turn posting to X on or off in this server",
        required_role="Only members with this role may post",
        clear_required_role="Let every member post again",
        daily_cap="Tweets per day for the whole server",
        member_daily_cap="Tweets per day for each member in this server",
        clear_caps="Go back to the default caps",
        announce_channel="Where posted tweets are announced",
        clear_announce_channel="Stop announcing posted tweets",
    )
    async def settings(
        self,
        interaction: discord.Interaction[Any],
        tweeting: bool | None = None,
        required_role: discord.Role | None = None,
        clear_required_role: bool = False,
        daily_cap: Cap | None = None,
        member_daily_cap: Cap | None = None,
        clear_caps: bool = False,
        announce_channel: discord.TextChannel | None = None,
        clear_announce_channel: bool = False,
    ) -> None:
        """Without options, show the rules; with options, change them (audited)."""
        require_manager(interaction)
        assert interaction.guild_id is not None
        changes: dict[str, Any] = {}
        if tweeting is not None:
            changes["tweeting_enabled"] = tweeting
        if clear_required_role or required_role is not None:
            changes["required_role_id"] = None if clear_required_role else required_role.id  # type: ignore[union-attr]
        if clear_caps:
            changes.update(daily_cap=None, member_daily_cap=None)
        if daily_cap is not None:
            changes["daily_cap"] = daily_cap
        if member_daily_cap is not None:
            changes["member_daily_cap"] = member_daily_cap
        if clear_announce_channel or announce_channel is not None:
            changes["announce_channel_id"] = (
                None if clear_announce_channel else announce_channel.id  # type: ignore[union-attr]
            )
        if changes:
            policy = await self.services.policy.update(
                self.actor(interaction), interaction.guild_id, **changes
            )
            title = "Updated. This server's rules for posting to X:"
        else:
            policy = await self.services.policy.get(interaction.guild_id)
            title = "This server's rules for posting to X:"
        settings = self.services.settings
        defaults = (settings.member_daily_tweet_cap, settings.server_daily_tweet_cap)
        await interaction.response.send_message(
            f"{title}\n{describe_policy(policy, defaults)}",
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @app_commands.command(description="Tweets posted through the bot and their estimated cost")
    async def usage(self, interaction: discord.Interaction[Any]) -> None:
        """This server's usage; operators also see everything."""
        operator = await is_operator(interaction)
        if not operator:
            require_manager(interaction)
        assert interaction.guild_id is not None
        parts = [
            describe_usage(
                "This server:", await self.services.usage.usage(guild_id=interaction.guild_id)
            )
        ]
        if operator:
            parts.append(describe_usage("Everywhere:", await self.services.usage.usage()))
        await interaction.response.send_message("\n\n".join(parts), ephemeral=True)


async def setup(bot: TweetlinkBot) -> None:
    """Add the admin commands."""
    await bot.add_cog(TwitterAdmin(bot))
