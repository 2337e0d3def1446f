"""/link-twitter and the Enter code button: the Discord half of the link flow."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import BotServices, TweetlinkBot
from bot.replies import report_error

ENTER_CODE_ID = "tweetlink:enter-code"
REPLACE_LINK_ID = "tweetlink:replace-link"
REPLACE_LINK_LABEL = "Link another account"
CODE_FIELD_ID = "tweetlink:code"
CANNOT_DM = 50007


log = logging.getLogger(__name__)


class EnterCodeModal(discord.ui.Modal, title="Finish linking your X account"):
    """One field: the 6-digit code the web page showed after authorizing on X."""

    code: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Code from the web page",
        custom_id=CODE_FIELD_ID,
        placeholder="123456",
        min_length=6,
        max_length=9,  # room for spaces a phone may paste
    )

    def __init__(self, services: BotServices) -> None:
        super().__init__()
        self.links = services.links
        self.role_connections = services.role_connections

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        """Check the code for the member who submitted it and store the link."""
        link = await self.links.confirm(interaction.user.id, self.code.value)
        answer = f"Linked as @{link.screen_name}."
        if link.moved_from is not None:
            answer += (
                " This X account was linked to another Discord user until now; it is yours "
                "now, and they are told by DM."
            )
        await interaction.response.send_message(answer, ephemeral=True)
        if link.moved_from is not None:
            await _tell_previous_holder(interaction.client, link.moved_from, link.screen_name)
        # After answering: Discord gives an interaction 3 s, and this is one more call to it.
        await self.role_connections.push(interaction.user.id, link.moved_from)

    # discord.py's Modal narrows View.on_error's signature; the ignore is for its typing.
    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction[Any], error: Exception, /
    ) -> None:
        await report_error(interaction, error)


async def _tell_previous_holder(client: discord.Client, member_id: int, handle: str) -> None:
    """Best effort: the member who held the X account learns it moved, and why."""
    try:
        channel = await client.create_dm(discord.Object(id=member_id))
        await channel.send(
            f"Your link to @{handle} on X was moved to another Discord account, which proved "
            "on X that it owns it. Run /link-twitter if that was not meant to happen."
        )
    except discord.HTTPException:
        log.warning("could not tell Discord user %s that their X account moved", member_id)


class EnterCodeButton(discord.ui.Button[discord.ui.View]):
    """Opens the code modal; its fixed custom_id makes it work after a restart."""

    def __init__(self, services: BotServices) -> None:
        super().__init__(
            label="Enter code", style=discord.ButtonStyle.primary, custom_id=ENTER_CODE_ID
        )
        self.services = services

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_modal(EnterCodeModal(self.services))


class PersistentLinkViews(discord.ui.View):
    """Registered once in setup_hook: answers Enter code on any message, old or new."""

    def __init__(self, cog: Linking) -> None:
        super().__init__(timeout=None)
        self.cog = cog
        self.add_item(EnterCodeButton(cog.bot.services))

    @discord.ui.button(label=REPLACE_LINK_LABEL, custom_id=REPLACE_LINK_ID)
    async def replace_link(
        self, interaction: discord.Interaction[Any], _: discord.ui.Button[Any]
    ) -> None:
        """The already-linked member chose to link a different account."""
        await self.cog.send_link(interaction)

    async def on_error(
        self, interaction: discord.Interaction[Any], error: Exception, _: discord.ui.Item[Any]
    ) -> None:
        await report_error(interaction, error)


def link_message_view(url: str, services: BotServices) -> discord.ui.View:
    """The link button and the Enter code button, for the DM or the ephemeral reply."""
    view = discord.ui.View(timeout=None)
    view.add_item(discord.ui.Button(label="Open the link", url=url))
    view.add_item(EnterCodeButton(services))
    # Stopped, so discord.py does not keep a copy per message: the persistent view answers.
    view.stop()
    return view


def replace_link_view() -> discord.ui.View:
    """The one button offered to a member who is already linked."""
    view = discord.ui.View(timeout=None)
    view.add_item(discord.ui.Button(label=REPLACE_LINK_LABEL, custom_id=REPLACE_LINK_ID))
    view.stop()
    return view


def link_embed(url: str, minutes: int) -> discord.Embed:
    """What the member reads before opening the link."""
    return discord.Embed(
        title="Link your X account",
        description=(
            f"1. Open the link and press **Continue to X** ([link]({url}), works for {minutes} "
            "minutes).\n"
            "2. Approve tweetlink on X. The page then shows a 6-digit code.\n"
            "3. Press **Enter code** below and type it.\n\n"
            "Do not share this link: the code can only be entered from your Discord account."
        ),
        colour=discord.Colour.dark_grey(),
    )


class Linking(commands.Cog):
    """Linking an X account from Discord."""

    def __init__(self, bot: TweetlinkBot) -> None:
        self.bot = bot
        self.links = bot.services.links

    async def cog_load(self) -> None:
        self.bot.add_view(PersistentLinkViews(self))

    @app_commands.command(name="link-twitter", description="Link your X/Twitter account")
    async def link_twitter(self, interaction: discord.Interaction[Any]) -> None:
        """Send the member their link, or offer to replace an existing one."""
        existing = await self.links.get(interaction.user.id)
        if existing is not None:
            await interaction.response.send_message(
                f"You are linked as @{existing.screen_name}. "
                "To link a different X account instead, press the button.",
                view=replace_link_view(),
                ephemeral=True,
            )
            return
        await self.send_link(interaction)

    async def send_link(self, interaction: discord.Interaction[Any]) -> None:
        """Start a flow and DM its link; if DMs are closed, put it in the ephemeral reply."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        settings = self.bot.services.settings
        user = interaction.user
        # The unique username beside the display name: display names can imitate anyone.
        started = await self.links.start(user.id, f"{user.display_name} (@{user.name})")
        url = settings.link_url(started.intent_id)
        embed = link_embed(url, settings.link_intent_ttl_seconds // 60)
        try:
            await interaction.user.send(embed=embed, view=link_message_view(url, self.bot.services))
        except (discord.Forbidden, discord.DiscordServerError) as failed:
            if isinstance(failed, discord.Forbidden) and failed.code != CANNOT_DM:
                raise
            why = "your DMs are closed to this server"
            if isinstance(failed, discord.DiscordServerError):
                log.warning("Discord failed a DM to user %s (%s)", user.id, failed.status)
                why = "Discord failed to deliver it"
            await interaction.followup.send(
                f"I could not DM you ({why}), so here is your link. Keep it to yourself.",
                embed=embed,
                view=link_message_view(url, self.bot.services),
                ephemeral=True,
            )
            return
        await interaction.followup.send(
            "I sent you a DM with your link. It replaces any earlier one.", ephemeral=True
        )


async def setup(bot: TweetlinkBot) -> None:
    """Add the linking cog."""
    await bot.add_cog(Linking(bot))
