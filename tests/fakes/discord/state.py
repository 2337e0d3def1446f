"""The world the fake Discord holds: users, guilds, channels, messages, commands, interactions."""

from __future__ import annotations

import asyncio
import copy
import datetime
import itertools
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, TypeVar

import discord

Json = dict[str, Any]
T = TypeVar("T")

DEFAULT_TOKEN = "fake-discord-bot-token"
DISCORD_EPOCH_MS = 1_420_070_400_000
EPHEMERAL, LOADING = 1 << 6, 1 << 7  # message flags
ALL_PERMISSIONS = discord.Permissions.all().value
ADMINISTRATOR = discord.Permissions(administrator=True).value
# What Discord gives @everyone in a new server: no Manage Server, no moderation.
DEFAULT_EVERYONE_PERMISSIONS = 1071698660929
_sequence = itertools.count()


def snowflake() -> int:
    """A new unique snowflake encoding the current time."""
    ms = time.time_ns() // 1_000_000
    return ((ms - DISCORD_EPOCH_MS) << 22) | (next(_sequence) & 0x3FFFFF)


def now_iso() -> str:
    """The current time as Discord writes timestamps."""
    return datetime.datetime.now(datetime.UTC).isoformat()


class InteractionType(IntEnum):
    """The interactions the fake dispatches."""

    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    MODAL_SUBMIT = 5


class ResponseType(IntEnum):
    """Interaction callback types."""

    MESSAGE = 4
    DEFERRED_MESSAGE = 5
    DEFERRED_UPDATE = 6
    UPDATE_MESSAGE = 7
    MODAL = 9


class CommandType(IntEnum):
    """Application command types users can invoke here."""

    CHAT_INPUT = 1
    MESSAGE = 3


class MessageType(IntEnum):
    """Message types the fake creates."""

    DEFAULT = 0
    CHAT_INPUT_COMMAND = 20


@dataclass(eq=False)
class FakeUser:
    """A Discord user."""

    id: int
    name: str
    bot: bool = False

    def payload(self) -> Json:
        """The user object."""
        return {
            "id": str(self.id),
            "username": self.name,
            "global_name": self.name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
        }


@dataclass(eq=False)
class FakeRole:
    """A guild role."""

    id: int
    name: str
    permissions: int = 0
    position: int = 0

    def payload(self) -> Json:
        """The role object."""
        return {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
        }


@dataclass(eq=False)
class FakeChannel:
    """A guild text channel, or the DM channel (type 1) with ``recipient``."""

    id: int
    name: str
    guild_id: int | None = None
    recipient: FakeUser | None = None

    def payload(self) -> Json:
        """The channel object."""
        if self.recipient is not None:
            return {"id": str(self.id), "type": 1, "recipients": [self.recipient.payload()]}
        return {
            "id": str(self.id),
            "type": 0,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": 0,
        }


@dataclass(eq=False)
class FakeMember:
    """A user's membership of a guild; ``permissions`` overrides what the roles give."""

    user: FakeUser
    guild: FakeGuild
    roles: list[FakeRole] = field(default_factory=list)
    permissions: int | None = None

    def resolved_permissions(self) -> int:
        """The guild permissions sent in interactions."""
        if self.permissions is not None:
            return self.permissions
        value = self.guild.everyone.permissions
        for role in self.roles:
            value |= role.permissions
        is_admin = self.user is self.guild.owner or value & ADMINISTRATOR
        return ALL_PERMISSIONS if is_admin else value

    def payload(self, *, with_user: bool = True) -> Json:
        """The member object."""
        data: Json = {
            "roles": [str(role.id) for role in self.roles],
            "joined_at": now_iso(),
            "flags": 0,
            "permissions": str(self.resolved_permissions()),
        }
        return {**data, "user": self.user.payload()} if with_user else data


@dataclass(eq=False)
class FakeGuild:
    """A guild with @everyone, the bot's role, a ``#general`` channel and members."""

    id: int
    name: str
    owner: FakeUser
    bot_role: FakeRole
    roles: list[FakeRole] = field(default_factory=list)
    channels: list[FakeChannel] = field(default_factory=list)
    members: dict[int, FakeMember] = field(default_factory=dict)

    @property
    def everyone(self) -> FakeRole:
        """The @everyone role."""
        return self.roles[0]

    @property
    def channel(self) -> FakeChannel:
        """The first text channel, ``#general``."""
        return self.channels[0]

    def add_role(self, name: str) -> FakeRole:
        """Add a role (with no permissions of its own)."""
        self.roles.append(FakeRole(snowflake(), name, 0, len(self.roles)))
        return self.roles[-1]

    def add_channel(self, name: str) -> FakeChannel:
        """Add a text channel."""
        self.channels.append(FakeChannel(snowflake(), name, self.id))
        return self.channels[-1]

    def add_member(
        self, user: FakeUser, *, permissions: discord.Permissions | None = None
    ) -> FakeMember:
        """Make ``user`` a member; ``permissions`` fixes what interactions say they have."""
        value = None if permissions is None else permissions.value
        self.members[user.id] = FakeMember(user, self, [], value)
        return self.members[user.id]

    def payload(self, bot_user: FakeUser) -> Json:
        """The GUILD_CREATE payload, as the bot (holding the bot's role) sees the guild."""
        bot_member = FakeMember(bot_user, self, [self.bot_role]).payload()
        return {
            "id": str(self.id),
            "name": self.name,
            "owner_id": str(self.owner.id),
            "unavailable": False,
            "member_count": len(self.members) + 1,
            "roles": [role.payload() for role in self.roles],
            "channels": [channel.payload() for channel in self.channels],
            "members": [bot_member],
        }


@dataclass(eq=False)
class FakeAttachment:
    """A file the fake serves at ``/attachments/{id}/{filename}``."""

    id: int
    filename: str
    data: bytes
    content_type: str | None = None

    def payload(self, base_url: str) -> Json:
        """The attachment object."""
        url = f"{base_url}/attachments/{self.id}/{self.filename}"
        return {
            "id": str(self.id),
            "filename": self.filename,
            "size": len(self.data),
            "url": url,
            "proxy_url": url,
            "content_type": self.content_type,
        }


@dataclass
class RecordedRequest:
    """A request the bot made, and the status the fake answered."""

    method: str
    path: str  # without /api/v10, e.g. "/channels/123/messages"
    json: Any = None  # the JSON body, if there was one
    status: int = 0

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


@dataclass
class RecordedCallback:
    """An interaction callback the bot made."""

    type: int
    data: Json
    latency: float  # seconds from dispatch to arrival, by the fake's clock
    status: int = 0
    message: Json | None = None  # snapshot of the message it created or updated

    @property
    def content(self) -> str | None:
        """The content sent."""
        return self.data.get("content")

    @property
    def ephemeral(self) -> bool:
        """Whether the callback asked for an ephemeral message."""
        return bool((self.data.get("flags") or 0) & EPHEMERAL)

    @property
    def components(self) -> list[Json]:
        """The components sent (a message's, or a modal's)."""
        return list(self.data.get("components") or [])


class FakeInteraction:
    """An interaction the fake dispatched, and the bot's answers to it."""

    def __init__(
        self,
        world: World,
        type: InteractionType,
        where: tuple[FakeUser, FakeGuild | None, FakeChannel],
        message: Json | None,
    ) -> None:
        self.id = snowflake()
        self.token = secrets.token_urlsafe(48)
        self.type = type
        self.user, self.guild, self.channel = where
        self.message = message  # the message whose component was used
        self.dispatched_at = world.now()
        self.responses: list[RecordedCallback] = []
        self.followups: list[Json] = []  # snapshots, as sent
        self.edits: list[Json] = []  # snapshots of "@original" after each edit
        self.original: Json | None = None  # live "@original" message
        self._world = world
        self._seen = {"followups": 0, "edits": 0}

    @property
    def acknowledged(self) -> bool:
        """Whether a callback was accepted."""
        return any(response.status == 200 for response in self.responses)

    async def wait_response(self) -> RecordedCallback:
        """Wait for the bot's (first) callback."""
        return await self._world.wait(
            lambda: self.responses[0] if self.responses else None, f"callback to {self.id}"
        )

    async def wait_followup(self) -> Json:
        """Wait for the next followup message not returned yet."""
        return await self._next("followups", self.followups)

    async def wait_edit(self) -> Json:
        """Wait for the next edit of the original message not returned yet."""
        return await self._next("edits", self.edits)

    async def _next(self, kind: str, items: list[Json]) -> Json:
        def probe() -> Json | None:
            if len(items) <= self._seen[kind]:
                return None
            self._seen[kind] += 1
            return items[self._seen[kind] - 1]

        return await self._world.wait(probe, f"{kind} of interaction {self.id}")


class World:
    """What the fake Discord knows and was asked, and waiting for either to change."""

    def __init__(self, *, wait_timeout: float) -> None:
        self.token = DEFAULT_TOKEN
        self.bot_user = FakeUser(snowflake(), "TweetLink", bot=True)
        self.application_id = self.bot_user.id  # as for every application made since 2019
        self.owner = FakeUser(snowflake(), "app-owner")
        self.shard_count = 1  # what /gateway/bot recommends
        self.response_deadline = 3.0  # Discord's: seconds from dispatch to the first callback
        self.wait_timeout = wait_timeout
        self.port = 0  # where the world is served; set once serving
        self.users: dict[int, FakeUser] = {u.id: u for u in (self.bot_user, self.owner)}
        self.guilds: dict[int, FakeGuild] = {}
        self.interactions: dict[int, FakeInteraction] = {}
        self.messages: dict[int, Json] = {}  # live, by id
        self.attachments: dict[int, FakeAttachment] = {}  # served at /attachments/, by id
        self.commands: dict[int | None, list[Json]] = {}  # as synced, by guild id (None: global)
        self.refused_dms: set[int] = set()  # ids of users whose DMs are closed to the bot
        self.requests: list[RecordedRequest] = []
        self.errors: list[BaseException] = []  # failures of the fake itself
        self._dm_channels: dict[int, FakeChannel] = {}  # by user id
        self._posted: dict[int, list[Json]] = {}  # what the bot posted, by channel id
        self._seen_posted: dict[int, int] = {}  # how many of those wait_message returned
        self._changed = asyncio.Condition()

    # -- where it is served ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """The value for ``discord.http.Route.BASE``."""
        return self.base_url + "/api/v10"

    @property
    def gateway_url(self) -> str:
        """The gateway's websocket URL."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    # -- building the world ----------------------------------------------------------------

    def add_user(self, name: str) -> FakeUser:
        """Add a user."""
        user = FakeUser(snowflake(), name)
        self.users[user.id] = user
        return user

    def add_guild(self, name: str) -> FakeGuild:
        """Add a guild the bot is in, owned by the app owner (a member, like the guild's owner)."""
        guild_id = snowflake()
        everyone = FakeRole(guild_id, "@everyone", DEFAULT_EVERYONE_PERMISSIONS)
        bot_role = FakeRole(snowflake(), self.bot_user.name, ALL_PERMISSIONS, 1)
        guild = FakeGuild(guild_id, name, self.owner, bot_role, [everyone, bot_role])
        guild.add_member(guild.owner)
        guild.add_channel("general")
        self.guilds[guild.id] = guild
        return guild

    def refuse_dms(self, user: FakeUser) -> None:
        """Make the bot's DMs to ``user`` fail with 403 50007."""
        self.refused_dms.add(user.id)

    def add_attachment(
        self, filename: str, data: bytes, content_type: str | None = None
    ) -> FakeAttachment:
        """Register a file to pass as an ATTACHMENT option; the fake serves it."""
        file = FakeAttachment(snowflake(), filename, data, content_type)
        self.attachments[file.id] = file
        return file

    def add_user_message(
        self,
        author: FakeUser,
        channel: FakeChannel,
        content: str = "",
        *,
        attachments: Sequence[FakeAttachment] = (),
    ) -> Json:
        """A message a member posted in a channel (a target for message commands)."""
        message = self.create_message(channel, {"content": content})
        message["author"] = author.payload()
        message["attachments"] = [file.payload(self.base_url) for file in attachments]
        for file in attachments:
            self.attachments[file.id] = file
        return message

    def dm_channel(self, user: FakeUser) -> FakeChannel:
        """The DM channel between the bot and ``user``."""
        return self._dm_channels.setdefault(user.id, FakeChannel(snowflake(), "", None, user))

    def channel(self, channel_id: int | str) -> FakeChannel | None:
        """The guild or DM channel with this id."""
        guild_channels = (g.channels for g in self.guilds.values())
        channels = itertools.chain(self._dm_channels.values(), *guild_channels)
        return next((c for c in channels if c.id == int(channel_id)), None)

    # -- commands --------------------------------------------------------------------------

    def sync_commands(self, guild_id: int | None, commands: list[Json]) -> list[Json]:
        """Replace the global (or a guild's) commands, as a bulk overwrite does; the stored ones."""
        old = {(c["name"], c["type"]): c for c in self.commands.get(guild_id, [])}
        stored = []
        for command in commands:
            kind = command.get("type", CommandType.CHAT_INPUT)
            previous = old.get((command["name"], kind))
            entry = {"description": "", "options": [], **command, "type": kind}
            # Re-synced commands keep their ids, like on Discord.
            entry["id"] = previous["id"] if previous else str(snowflake())
            entry.update(application_id=str(self.application_id), version=str(snowflake()))
            stored.append(entry if guild_id is None else {**entry, "guild_id": str(guild_id)})
        self.commands[guild_id] = stored
        return stored

    def synced_commands(self, guild: FakeGuild | None = None) -> list[Json]:
        """The global commands, or ``guild``'s, as last synced."""
        return list(self.commands.get(guild.id if guild else None, []))

    # -- messages --------------------------------------------------------------------------

    def create_message(
        self,
        channel: FakeChannel,
        payload: Json,
        *,
        kind: MessageType = MessageType.DEFAULT,
        flags: int = 0,
        webhook: bool = False,
    ) -> Json:
        """A new message by the bot, from the JSON it sent."""
        message: Json = {
            "id": str(snowflake()),
            "channel_id": str(channel.id),
            "author": self.bot_user.payload(),
            "content": payload.get("content") or "",
            "embeds": payload.get("embeds") or [],
            "components": payload.get("components") or [],
            "attachments": [],
            "flags": (payload.get("flags") or 0) | flags,
            "type": kind,
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "mentions": [],
        }
        if channel.guild_id is not None:
            message["guild_id"] = str(channel.guild_id)
        if webhook:
            message["webhook_id"] = message["application_id"] = str(self.application_id)
        self.messages[int(message["id"])] = message
        return message

    def edit_message(self, message: Json, payload: Json) -> Json:
        """Apply an edit the bot sent; an edit never changes whether a message is ephemeral."""
        for key in ("content", "embeds", "components"):
            if key in payload:
                message[key] = payload[key] or ("" if key == "content" else [])
        if payload.get("flags") is not None:
            message["flags"] = (payload["flags"] & ~EPHEMERAL) | (message["flags"] & EPHEMERAL)
        message["flags"] &= ~LOADING
        message["edited_timestamp"] = now_iso()
        return message

    def record_post(self, channel: FakeChannel, message: Json) -> None:
        """Keep what the bot posted to a channel, as posted."""
        self._posted.setdefault(channel.id, []).append(copy.deepcopy(message))

    def dm_messages(self, user: FakeUser) -> list[Json]:
        """What the bot sent ``user`` in DMs (as posted)."""
        return list(self._posted.get(self.dm_channel(user).id, []))

    # -- waiting ---------------------------------------------------------------------------

    def now(self) -> float:
        """The fake's clock (the event loop's): dispatch times and callback latencies."""
        return asyncio.get_running_loop().time()

    async def notify(self) -> None:
        """Wake the waits: something changed."""
        async with self._changed:
            self._changed.notify_all()

    async def wait(self, probe: Callable[[], T | None], what: str) -> T:
        """Wait until ``probe`` returns something; a TimeoutError lists the last requests."""
        async with self._changed:
            try:
                async with asyncio.timeout(self.wait_timeout):
                    while (found := probe()) is None:
                        await self._changed.wait()
            except TimeoutError:
                recent = "\n  ".join(map(str, self.requests[-15:])) or "(none)"
                raise TimeoutError(
                    f"no {what} within {self.wait_timeout}s; last requests:\n  {recent}"
                ) from None
        return found

    async def wait_message(self, where: FakeChannel | FakeUser) -> Json:
        """Wait for the next message posted there (a channel, or a user's DMs), not returned yet."""
        channel = self.dm_channel(where) if isinstance(where, FakeUser) else where

        def probe() -> Json | None:
            posted, seen = self._posted.get(channel.id, []), self._seen_posted.get(channel.id, 0)
            if len(posted) <= seen:
                return None
            self._seen_posted[channel.id] = seen + 1
            return posted[seen]

        return await self.wait(probe, f"message in channel {channel.id}")

    async def wait_dm(self, user: FakeUser) -> Json:
        """Wait for the next DM to ``user``, not returned yet."""
        return await self.wait_message(user)

    async def wait_for(self, predicate: Callable[[RecordedRequest], bool]) -> RecordedRequest:
        """Wait for a request matching ``predicate``."""
        return await self.wait(
            lambda: next((r for r in self.requests if predicate(r)), None), "matching request"
        )
