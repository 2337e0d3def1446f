"""FakeDiscord: the world served on loopback, discord.py pointed at it, and its users' actions."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import web

from tests.fakes.discord import interactions
from tests.fakes.discord.gateway import Gateway
from tests.fakes.discord.oauth import OAuth2
from tests.fakes.discord.rest import RestApi
from tests.fakes.discord.state import (
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeUser,
    InteractionType,
    Json,
    World,
)


class FakeDiscord(World):
    """The fake Discord; see the package docstring."""

    def __init__(self, *, wait_timeout: float = 5.0) -> None:
        super().__init__(wait_timeout=wait_timeout)
        self.gateway = Gateway(self)
        self.oauth = OAuth2(self)  # OAuth2 and Linked Roles (see tests/fakes/discord/oauth.py)
        self.rest = RestApi(self, self.oauth)  # rest.fail_next: one-shot REST failures
        self.expire_next_interaction = False  # True: the next one's token has run out already
        self._runner: web.AppRunner | None = None
        self._saved: tuple[str, yarl.URL] | None = None

    @property
    def identifies(self) -> list[Json]:
        """The IDENTIFY payloads the bots sent (without the token), one per shard connected."""
        return self.gateway.identifies

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Serve on a free port of 127.0.0.1."""
        app = web.Application()
        app.router.add_get("/gateway", self.gateway.handle)
        self.rest.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        """Drop gateway connections, stop serving and restore discord.py."""
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.restore_discord_py()

    async def __aenter__(self) -> Self:
        await self.start()
        self.point_discord_py_here()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def point_discord_py_here(self) -> None:
        """Send discord.py's REST and gateway traffic here (process-wide: see restore)."""
        if self._saved is None:
            self._saved = (
                discord.http.Route.BASE,
                discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
            )
        discord.http.Route.BASE = self.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)

    def restore_discord_py(self) -> None:
        """Undo point_discord_py_here."""
        if self._saved is not None:
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._saved
            self._saved = None

    async def wait_connected(self) -> None:
        """Wait until a bot has identified and can receive events."""
        await self.wait(lambda: True if self.gateway.connected else None, "connected bot")

    # -- what users do ---------------------------------------------------------------------

    async def slash_command(
        self,
        user: FakeUser,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        guild: FakeGuild | None = None,
    ) -> FakeInteraction:
        """Run ``/name`` (``"name sub"`` for a subcommand) in ``guild``'s #general, or in DMs.

        Option values: str, int, bool, FakeUser, FakeChannel, FakeRole, FakeAttachment.
        Returns once dispatched.
        """
        data = interactions.slash_command(self, name, options or {}, guild)
        return await self._interact(InteractionType.APPLICATION_COMMAND, data, (user, guild, None))

    async def context_menu(
        self, user: FakeUser, name: str, target: Json, *, guild: FakeGuild | None = None
    ) -> FakeInteraction:
        """Run message command ``name`` (Apps → name) on a message, in its channel."""
        message = self.messages.get(int(target["id"]), target)
        data = interactions.message_command(self, name, message, guild)
        where = (user, guild, self.channel(message["channel_id"]))
        return await self._interact(InteractionType.APPLICATION_COMMAND, data, where)

    async def click_button(self, user: FakeUser, message: Json, custom_id: str) -> FakeInteraction:
        """Click button ``custom_id`` of ``message`` (as it is now, not as recorded)."""
        live = self.messages.get(int(message["id"]), message)
        data = interactions.button_click(live, custom_id)
        channel = self.channel(live["channel_id"])
        if channel is None:
            raise LookupError(f"message {live['id']} is in an unknown channel")
        guild = self.guilds.get(channel.guild_id or 0)
        return await self._interact(
            InteractionType.MESSAGE_COMPONENT, data, (user, guild, channel), live
        )

    async def submit_modal(
        self, origin: FakeInteraction, values: Mapping[str, str]
    ) -> FakeInteraction:
        """Fill in and submit the modal the bot answered ``origin`` with (values by custom_id)."""
        data = interactions.modal_submit(origin, values)
        where = (origin.user, origin.guild, origin.channel)
        return await self._interact(InteractionType.MODAL_SUBMIT, data, where, origin.message)

    async def _interact(
        self,
        kind: InteractionType,
        data: Json,
        where: tuple[FakeUser, FakeGuild | None, FakeChannel | None],
        message: Json | None = None,
    ) -> FakeInteraction:
        interaction, payload = interactions.new_interaction(self, kind, data, where, message)
        if self.expire_next_interaction:
            self.expire_next_interaction = False
            interaction.dispatched_at -= self.response_deadline + 1  # answers get 404 10062
        guild_id = interaction.guild.id if interaction.guild else None
        await self.gateway.dispatch("INTERACTION_CREATE", payload, guild_id=guild_id)
        return interaction
