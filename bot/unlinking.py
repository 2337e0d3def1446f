"""The one Unlink / Cancel confirmation, for a member removing their own link and for an
operator removing someone else's."""

from __future__ import annotations

from typing import Any

import discord

from bot.checks import require_operator
from bot.replies import report_error
from core.audit import Actor
from core.link_values import Unlinked
from core.links import LinkService
from core.role_connections import RoleConnectionService

CONNECTED_APPS_URL = "https://x.com/settings/connected_apps"


class ConfirmUnlink(discord.ui.View):
    """Unlink or keep, pressed only by whoever asked; the buttons expire after two minutes.

    `by_operator`: an operator acts on `member`; the rights are checked again on the press, the
    action is audited with `reason`, and the member is told by DM.
    """

    def __init__(
        self,
        links: LinkService,
        role_connections: RoleConnectionService,
        asker_id: int,
        member: discord.User | discord.Member,
        *,
        by_operator: bool = False,
        reason: str | None = None,
    ) -> None:
        super().__init__(timeout=120)
        self.links = links
        self.role_connections = role_connections
        self.asker_id = asker_id
        self.member = member
        self.by_operator = by_operator
        self.reason = reason

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        return interaction.user.id == self.asker_id

    @discord.ui.button(label="Unlink", style=discord.ButtonStyle.danger)
    async def unlink(
        self, interaction: discord.Interaction[Any], _: discord.ui.Button[Any]
    ) -> None:
        """Remove the link here and revoke the token at X."""
        self.stop()
        if self.by_operator:
            await require_operator(interaction)
        await interaction.response.defer()
        by = Actor(self.asker_id) if self.by_operator else None
        unlinked = await self.links.unlink(self.member.id, by=by, reason=self.reason)
        await interaction.edit_original_response(content=await self._outcome(unlinked), view=None)
        await self.role_connections.push(self.member.id)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(
        self, interaction: discord.Interaction[Any], _: discord.ui.Button[Any]
    ) -> None:
        """Keep the link."""
        self.stop()
        kept = "Nothing was changed." if self.by_operator else "Kept your link."
        await interaction.response.edit_message(content=kept, view=None)

    async def on_error(
        self, interaction: discord.Interaction[Any], error: Exception, _: discord.ui.Item[Any]
    ) -> None:
        await report_error(interaction, error)

    async def _outcome(self, unlinked: Unlinked) -> str:
        handle = unlinked.link.screen_name
        if not self.by_operator:
            if unlinked.revoked_at_twitter:
                return f"Unlinked @{handle}. X has revoked the bot's access too."
            return (
                f"Unlinked @{handle}. X could not be reached, so the access was deleted here but "
                f"not revoked at X; you can revoke it yourself at {CONNECTED_APPS_URL}."
            )
        revoked = (
            "X revoked the token too."
            if unlinked.revoked_at_twitter
            else "X could not be reached: the token is deleted here but not revoked at X."
        )
        told = (
            "They were told by DM."
            if await self._tell_member(handle)
            else ("They could not be told by DM.")
        )
        return f"Unlinked @{handle} from {self.member.mention}. {revoked} {told}"

    async def _tell_member(self, handle: str) -> bool:
        """Best effort: the member learns an operator removed their link, and why."""
        reason = f" Reason: {self.reason}" if self.reason else ""
        try:
            await self.member.send(
                f"A bot operator removed the link between your Discord account and "
                f"@{handle} on X.{reason}"
            )
        except discord.HTTPException:
            return False
        return True
