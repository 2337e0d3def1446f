"""/tweet and the Post to X message command: preview, then Post or Cancel (and, once posted,
Delete from X: bot/deleting.py)."""

from __future__ import annotations

import logging
import re
from typing import Any, Self

import discord
from discord import app_commands
from discord.ext import commands

from bot import deleting
from bot.client import TweetlinkBot
from bot.deleting import posted_answer
from bot.replies import answers_errors, describe, report_error
from core import errors
from core.tweet_text import MAX_IMAGE_BYTES, MAX_WEIGHTED_LENGTH
from core.tweets import Draft, Image, TweetService, Where

log = logging.getLogger(__name__)

# Discord caps a slash command's string option at 6000 characters; X's limit is far below.
MAX_TEXT_OPTION = 2000


def where_of(interaction: discord.Interaction[Any]) -> Where:
    """The member, server, channel and roles an interaction comes from; servers only."""
    if interaction.guild_id is None or not isinstance(interaction.user, discord.Member):
        raise app_commands.NoPrivateMessage()
    return Where(
        member_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id or 0,
        role_ids=[role.id for role in interaction.user.roles],
    )


class DraftButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"^$"):
    """A preview's button; its custom_id names the draft and its owner, so it survives restarts."""

    action = ""

    def __init__(self, draft_id: str, owner_id: int, **button: Any) -> None:
        super().__init__(
            discord.ui.Button(custom_id=f"tweetlink:{self.action}:{draft_id}:{owner_id}", **button)
        )
        self.draft_id = draft_id
        self.owner_id = owner_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        return cls(match["draft"], int(match["owner"]))

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(
            "Only the member who wrote this tweet can post or cancel it.", ephemeral=True
        )
        return False

    @staticmethod
    def tweets(interaction: discord.Interaction[Any]) -> TweetService:
        bot: TweetlinkBot = interaction.client
        return bot.services.tweets


class PostButton(DraftButton, template=r"tweetlink:post:(?P<draft>[\w-]+):(?P<owner>\d+)"):
    """Posts the draft."""

    action = "post"

    def __init__(self, draft_id: str, owner_id: int) -> None:
        super().__init__(draft_id, owner_id, label="Post", style=discord.ButtonStyle.success)

    @answers_errors
    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer()  # X may take a while; the preview says what happened
        try:
            posted = await self.tweets(interaction).post(self.draft_id, where_of(interaction))
        except (
            Exception
        ) as error:  # every outcome replaces the preview, so it cannot be pressed twice
            message = describe(error)
            if message is None:
                await report_error(interaction, error)
                message = "Something went wrong on our side; nothing more will happen here."
            await interaction.edit_original_response(content=message, embed=None, view=None)
            return
        await announce(interaction, posted.url)
        tweets = self.tweets(interaction)
        answer = posted_answer(
            posted.tweet_id, self.owner_id, posted.screen_name, deletable=bool(tweets.delete_window)
        )
        await interaction.edit_original_response(**answer)


async def announce(interaction: discord.Interaction[Any], url: str) -> None:
    """Best effort: the server's announcement channel hears of the new tweet."""
    bot: TweetlinkBot = interaction.client
    assert interaction.guild_id is not None
    policy = await bot.services.policy.get(interaction.guild_id)
    if policy.announce_channel_id is None:
        return
    try:
        channel = bot.get_channel(policy.announce_channel_id) or await bot.fetch_channel(
            policy.announce_channel_id
        )
        if isinstance(channel, discord.abc.Messageable):
            await channel.send(
                f"{interaction.user.mention} posted to X: {url}",
                allowed_mentions=discord.AllowedMentions.none(),
            )
    except discord.HTTPException as error:
        log.warning(
            "could not announce a tweet in channel %s: %s", policy.announce_channel_id, error
        )


class CancelButton(DraftButton, template=r"tweetlink:cancel:(?P<draft>[\w-]+):(?P<owner>\d+)"):
    """Drops the draft."""

    action = "cancel"

    def __init__(self, draft_id: str, owner_id: int) -> None:
        super().__init__(draft_id, owner_id, label="Cancel", style=discord.ButtonStyle.secondary)

    @answers_errors
    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await self.tweets(interaction).cancel(self.draft_id, self.owner_id)
        await interaction.response.edit_message(
            content="Cancelled; nothing was posted.", embed=None, view=None
        )


def preview(draft: Draft, owner_id: int, image_url: str | None) -> tuple[discord.Embed, Any]:
    """The ephemeral preview: the text, its weighted length, the image, and the two buttons."""
    embed = discord.Embed(
        title=f"Post this as @{draft.screen_name}?",
        description=draft.text or "*(no text)*",
        colour=discord.Colour.dark_grey(),
    )
    embed.add_field(name="Length", value=f"{draft.weighted_length}/{MAX_WEIGHTED_LENGTH}")
    embed.set_footer(text="The buttons work for 15 minutes.")
    if image_url:
        embed.set_image(url=image_url)
    view = discord.ui.View(timeout=None)
    view.add_item(PostButton(draft.id, owner_id))
    view.add_item(CancelButton(draft.id, owner_id))
    view.stop()  # the dynamic items answer clicks; no copy of the view needs keeping
    return embed, view


async def download(attachment: discord.Attachment) -> Image:
    """The attachment's bytes, refusing before download what X would refuse anyway."""
    if attachment.size > MAX_IMAGE_BYTES:
        raise errors.ImageInvalid("The image is over 5 MB, the most X accepts for a photo.")
    if attachment.content_type and not attachment.content_type.startswith("image/"):
        raise errors.ImageInvalid("The attachment must be a PNG, JPEG, GIF or WEBP image.")
    return Image(await attachment.read())


class Tweeting(commands.Cog):
    """Posting to X from Discord."""

    def __init__(self, bot: TweetlinkBot) -> None:
        self.bot = bot
        self.tweets = bot.services.tweets
        self.post_to_x = app_commands.ContextMenu(name="Post to X", callback=self.post_message)
        self.post_to_x.guild_only = True

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(PostButton, CancelButton, *deleting.BUTTONS)
        self.bot.tree.add_command(self.post_to_x)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(PostButton, CancelButton, *deleting.BUTTONS)
        self.bot.tree.remove_command(self.post_to_x.name, type=self.post_to_x.type)

    @app_commands.command(name="tweet", description="Post to X as your linked account")
    @app_commands.guild_only()
    @app_commands.describe(
        text="What to post (280 characters as X counts them)",
        image="An image to attach: PNG, JPEG, GIF or WEBP, up to 5 MB",
    )
    async def tweet(
        self,
        interaction: discord.Interaction[Any],
        text: app_commands.Range[str, 1, MAX_TEXT_OPTION],
        image: discord.Attachment | None = None,
    ) -> None:
        """Preview a tweet; the member confirms with Post."""
        await self.show_preview(interaction, text, image)

    async def post_message(
        self, interaction: discord.Interaction[Any], message: discord.Message
    ) -> None:
        """Preview a member's own message (its text and first image) as a tweet."""
        if message.author.id != interaction.user.id:
            await interaction.response.send_message(
                "You can only post your own messages to X.", ephemeral=True
            )
            return
        image = next(
            (a for a in message.attachments if (a.content_type or "").startswith("image/")), None
        )
        await self.show_preview(interaction, message.content, image)

    async def show_preview(
        self,
        interaction: discord.Interaction[Any],
        text: str,
        attachment: discord.Attachment | None,
    ) -> None:
        where = where_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        image = await download(attachment) if attachment is not None else None
        draft = await self.tweets.prepare(where, text, image)
        embed, view = preview(draft, where.member_id, attachment.url if attachment else None)
        await interaction.followup.send(embed=embed, view=view, ephemeral=True)


async def setup(bot: TweetlinkBot) -> None:
    """Add the tweeting cog."""
    await bot.add_cog(Tweeting(bot))
