"""A fake Discord (gateway websocket + REST API) on loopback for end-to-end bot tests.

Unmodified discord.py connects to ``FakeDiscord``; tests act as users (slash commands, context
menus, button clicks, selects, modal submits) and assert on what the bot sent over REST. Usage::

    async with FakeDiscord() as fake:  # starts it and points discord.py at it
        guild = fake.add_guild("Guild")
        alice = fake.add_user("alice")
        guild.add_member(alice, permissions=discord.Permissions(manage_guild=True))
        bot = MyBot(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        await bot.login(fake.token)
        task = asyncio.create_task(bot.connect())
        await bot.wait_until_ready()
        await bot.tree.sync()  # or fake.add_command("ping"): commands synced by an earlier run
        inter = await fake.slash_command(alice, "ping", {"text": "hi"}, guild=guild)
        reply = await inter.wait_response()  # RecordedCallback: .type .content .ephemeral
        assert reply.type == ResponseType.MESSAGE and reply.latency < 3
        button = await fake.click_button(alice, reply.message, "confirm")
        ...
        await bot.close()
        await task

What it does like Discord, so bugs show: users can only invoke synced commands (or ones
registered with ``add_command``); a callback later than ``response_deadline`` (3 s from dispatch,
by the fake's clock: see ``advance_clock``) gets 404 10062; a second callback gets 400 40060;
followups before a callback get 404 10015; the first followup after a "thinking" defer fills the
placeholder and keeps its ephemerality; DMs to users in ``refuse_dms`` get 403 50007; REST calls
without ``Bot <token>`` get 401. Unknown routes answer 404 and are recorded; errors in the fake
itself land in ``errors``.

Messages are plain dicts (Discord's message payloads). Recorded ones are snapshots;
``message(id)`` is the live state, and ``click_button``/``select`` always act on the live state.
Waits are event-driven: ``wait_*`` give up after ``wait_timeout`` seconds with a ``TimeoutError``
listing the last requests; ``wait_followup``/``wait_edit``/``wait_message``/``wait_dm`` return the
next item not returned yet, while ``followups``/``edits``/``messages_in``/``dm_messages`` hold all.

``point_discord_py_here`` patches ``discord.http.Route.BASE`` and
``DiscordWebSocket.DEFAULT_GATEWAY``; ``restore_discord_py`` (also run by ``close``) undoes it.
Add guilds before the bot connects: each new connection gets them as GUILD_CREATE after READY.
``drop_connections`` simulates a gateway hiccup: the bots RESUME (counted in ``resumes``), since
discord.py waits 5 s before re-identifying a client that was connected before.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import itertools
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from types import TracebackType
from typing import Any, Self, TypeVar

import aiohttp
import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import web

Json = dict[str, Any]
T = TypeVar("T")
Handler = Callable[[web.Request, "RecordedRequest"], Awaitable[web.StreamResponse]]

_log = logging.getLogger(__name__)
API = "/api/v10"
DEFAULT_TOKEN = "fake-discord-bot-token"
DISCORD_EPOCH_MS = 1_420_070_400_000
EPHEMERAL, LOADING = 1 << 6, 1 << 7
ALL_PERMISSIONS = discord.Permissions.all().value
ADMINISTRATOR = discord.Permissions(administrator=True).value
_sequence = itertools.count()


def snowflake() -> int:
    """A new unique snowflake encoding the current time."""
    ms = time.time_ns() // 1_000_000
    return ((ms - DISCORD_EPOCH_MS) << 22) | (next(_sequence) & 0x3FFFFF)


def _now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def _perms(permissions: int | discord.Permissions) -> int:
    return permissions if isinstance(permissions, int) else permissions.value


class ResponseType(IntEnum):
    """Interaction callback types."""

    MESSAGE = 4
    DEFERRED_MESSAGE = 5
    DEFERRED_UPDATE = 6
    UPDATE_MESSAGE = 7
    AUTOCOMPLETE = 8
    MODAL = 9


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
    nick: str | None = None

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
            "joined_at": _now_iso(),
            "nick": self.nick,
            "flags": 0,
            "permissions": str(self.resolved_permissions()),
        }
        return {**data, "user": self.user.payload()} if with_user else data


# What Discord gives @everyone in a new server: no Manage Server, no moderation.
DEFAULT_EVERYONE_PERMISSIONS = 1071698660929


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

    def add_role(self, name: str, permissions: int | discord.Permissions = 0) -> FakeRole:
        """Add a role."""
        self.roles.append(FakeRole(snowflake(), name, _perms(permissions), len(self.roles)))
        return self.roles[-1]

    def add_channel(self, name: str) -> FakeChannel:
        """Add a text channel."""
        self.channels.append(FakeChannel(snowflake(), name, self.id))
        return self.channels[-1]

    def add_member(
        self,
        user: FakeUser,
        *,
        roles: Iterable[FakeRole] = (),
        permissions: int | discord.Permissions | None = None,
        nick: str | None = None,
    ) -> FakeMember:
        """Make ``user`` a member; ``permissions`` fixes what interactions say they have."""
        perms = None if permissions is None else _perms(permissions)
        self.members[user.id] = FakeMember(user, self, list(roles), perms, nick)
        return self.members[user.id]

    def payload(self, bot_member: Json) -> Json:
        """The GUILD_CREATE payload."""
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


@dataclass(frozen=True)
class RecordedFile:
    """A file part of a multipart request (``field`` is e.g. ``files[0]``)."""

    field: str
    filename: str
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    """A request the bot made, and the fake's answer."""

    method: str
    path: str  # without /api/v10, e.g. "/channels/123/messages"
    query: dict[str, str]
    json: Any  # the JSON body, or the payload_json part of a multipart body
    files: list[RecordedFile]
    at: float
    status: int = 0
    response: Any = None

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


@dataclass
class RecordedCallback:
    """An interaction callback the bot made."""

    type: int
    data: Json
    files: list[RecordedFile]
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

    @property
    def embeds(self) -> list[Json]:
        """The embeds sent."""
        return list(self.data.get("embeds") or [])


class FakeInteraction:
    """An interaction the fake dispatched, and the bot's answers to it."""

    def __init__(
        self,
        fake: FakeDiscord,
        payload: Json,
        where: tuple[FakeUser, FakeGuild | None, FakeChannel],
        message: Json | None,
    ) -> None:
        self.payload = payload
        self.id = int(payload["id"])
        self.token: str = payload["token"]
        self.type: int = payload["type"]
        self.user, self.guild, self.channel = where
        self.message = message  # the message whose component was used
        self.dispatched_at = fake.now()
        self.responses: list[RecordedCallback] = []
        self.followups: list[Json] = []
        self.edits: list[Json] = []  # snapshots of "@original" after each edit
        self.original: Json | None = None  # live "@original" message
        self.message_ids: set[int] = set()
        self._fake = fake
        self._seen = {"followups": 0, "edits": 0}

    @property
    def acknowledged(self) -> bool:
        """Whether a callback was accepted."""
        return any(response.status == 200 for response in self.responses)

    async def wait_response(self) -> RecordedCallback:
        """Wait for the bot's (first) callback."""
        return await self._fake._wait(
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

        return await self._fake._wait(probe, f"{kind} of interaction {self.id}")


class _Session:
    """One gateway connection."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.seq = 0
        self.session_id = ""
        self.shard: tuple[int, int] | None = None
        self.ready = False

    def handles(self, guild_id: int | None) -> bool:
        return self.shard is None or ((guild_id or 0) >> 22) % self.shard[1] == self.shard[0]

    async def send(self, op: int, d: Any, t: str | None = None) -> None:
        if op == 0:
            self.seq += 1
        payload = {"op": op, "d": d, "s": self.seq if op == 0 else None, "t": t}
        await self.ws.send_str(json.dumps(payload))


class _JsonResponse(web.Response):
    def __init__(self, data: Any, status: int = 200) -> None:
        # Not web.json_response: its "; charset=utf-8" makes discord.py read the body as text.
        body = json.dumps(data).encode()
        super().__init__(body=body, status=status, content_type="application/json")
        self.data = data


def _error(status: int, code: int, message: str) -> _JsonResponse:
    return _JsonResponse({"code": code, "message": message}, status)


def _walk(components: Iterable[Json]) -> Iterable[Json]:
    for component in components:
        yield component
        yield from _walk(component.get("components") or [])
        yield from _walk(c for k in ("component", "accessory") if (c := component.get(k)))


def _modal_answer(component: Json, values: Mapping[str, Any], used: set[str]) -> Json:
    """The submitted form of one modal component, in the shape the bot sent it."""
    kind = component["type"]
    if kind == 1:
        return {
            "type": 1,
            "components": [_modal_answer(c, values, used) for c in component["components"]],
        }
    if kind == 18:
        return {"type": 18, "component": _modal_answer(component["component"], values, used)}
    custom_id = component.get("custom_id", "")
    used.add(custom_id)
    if kind != 4:
        return {"type": kind, "custom_id": custom_id, "values": list(values.get(custom_id, []))}
    value = str(values.get(custom_id, component.get("value") or ""))
    if component.get("required", True) and not value:
        raise ValueError(f"text input {custom_id!r} is required: give it a value")
    if not component.get("min_length", 0) <= len(value) <= component.get("max_length", 4000):
        raise ValueError(f"value for {custom_id!r} breaks its min/max length")
    return {"type": 4, "custom_id": custom_id, "value": value}


async def _read_body(request: web.Request) -> tuple[Any, list[RecordedFile]]:
    if request.content_type.startswith("multipart/"):
        payload, files = None, []
        async for part in await request.multipart():
            if not isinstance(part, aiohttp.BodyPartReader):
                continue
            data = bytes(await part.read())
            if part.name == "payload_json":
                payload = json.loads(data)
            else:
                ctype = part.headers.get(aiohttp.hdrs.CONTENT_TYPE)
                files.append(RecordedFile(part.name or "", part.filename or "", ctype, data))
        return payload, files
    raw = await request.read()
    if raw and request.content_type == "application/json":
        return json.loads(raw), []
    return (raw.decode(errors="replace") if raw else None), []


class FakeDiscord:
    """The fake Discord; see the module docstring."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_name: str = "TweetLink",
        bot_user_id: int | None = None,
        owner_id: int | None = None,
        response_deadline: float | None = 3.0,
        wait_timeout: float = 5.0,
        shard_count: int = 1,
    ) -> None:
        self.token = token
        self.bot_user = FakeUser(bot_user_id or snowflake(), bot_name, bot=True)
        self.application_id = self.bot_user.id  # as for every application made since 2019
        self.owner = FakeUser(owner_id or snowflake(), "app-owner")
        self.team: Json | None = None
        self.response_deadline = response_deadline
        self.wait_timeout = wait_timeout
        self.shard_count = shard_count
        self.users: dict[int, FakeUser] = {u.id: u for u in (self.bot_user, self.owner)}
        self.guilds: dict[int, FakeGuild] = {}
        self.requests: list[RecordedRequest] = []
        self.interactions: dict[int, FakeInteraction] = {}
        self.messages: dict[int, Json] = {}  # live, by id
        self.identifies: list[Json] = []  # IDENTIFY payloads without the token
        self.resumes = 0
        self.errors: list[BaseException] = []
        self.port = 0
        self._dm_channels: dict[int, FakeChannel] = {}
        self._posted: dict[int, list[Json]] = {}
        self._seen_posted: dict[int, int] = {}
        self._refused: set[int] = set()
        self._commands: dict[int | None, list[Json]] = {}
        self._files: dict[int, FakeAttachment] = {}
        self._sessions: list[_Session] = []
        self._resumable: dict[str, _Session] = {}
        self._changed = asyncio.Condition()
        self._clock_offset = 0.0
        self._runner: web.AppRunner | None = None
        self._saved: tuple[str, yarl.URL] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """The value for ``discord.http.Route.BASE``."""
        return self.base_url + API

    @property
    def gateway_url(self) -> str:
        """The gateway's websocket URL."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def start(self) -> None:
        """Serve on a free port of 127.0.0.1."""
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        routes: list[tuple[str, str, Handler, bool]] = [
            ("GET", "/attachments/{file}/{name}", self._get_file, False),
            ("GET", API + "/gateway", self._get_gateway, False),
            ("GET", API + "/gateway/bot", self._get_gateway, True),
            ("GET", API + "/users/@me", self._get_me, True),
            ("POST", API + "/users/@me/channels", self._create_dm, True),
            ("GET", API + r"/users/{user:\d+}", self._get_user, True),
            ("GET", API + "/oauth2/applications/@me", self._get_application, True),
            ("*", API + "/applications/{app}/commands", self._commands_route, True),
            ("*", API + "/applications/{app}/guilds/{guild}/commands", self._commands_route, True),
            ("POST", API + "/interactions/{id}/{token}/callback", self._callback, False),
            ("POST", API + "/webhooks/{app}/{token}", self._followup, False),
            ("*", API + "/webhooks/{app}/{token}/messages/{message}", self._webhook_message, False),
            ("POST", API + "/channels/{channel}/messages", self._post_message, True),
            ("*", API + "/channels/{channel}/messages/{message}", self._channel_message, True),
            ("*", "/{tail:.*}", self._not_found, False),
        ]
        for method, path, handler, auth in routes:
            app.router.add_route(method, path, self._recorded(handler, auth=auth))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        """Drop gateway connections, stop serving and restore discord.py."""
        for session in list(self._sessions):
            await session.ws.close(code=1001)
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

    def now(self) -> float:
        """The fake's clock: the event loop's, plus what advance_clock added."""
        return asyncio.get_running_loop().time() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Pretend ``seconds`` passed (e.g. to miss the response deadline without sleeping)."""
        self._clock_offset += seconds

    # -- the world -------------------------------------------------------------------------

    def add_user(self, name: str, *, bot: bool = False) -> FakeUser:
        """Add a user."""
        user = FakeUser(snowflake(), name, bot)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str,
        *,
        owner: FakeUser | None = None,
        bot_permissions: int | discord.Permissions = ALL_PERMISSIONS,
    ) -> FakeGuild:
        """Add a guild the bot is in; its owner (default: the app owner) is a member."""
        guild_id = snowflake()
        everyone_perms = DEFAULT_EVERYONE_PERMISSIONS
        everyone = FakeRole(guild_id, "@everyone", everyone_perms)
        bot_role = FakeRole(snowflake(), self.bot_user.name, _perms(bot_permissions), 1)
        guild = FakeGuild(guild_id, name, owner or self.owner, bot_role, [everyone, bot_role])
        guild.add_member(guild.owner)
        guild.add_channel("general")
        self.guilds[guild.id] = guild
        return guild

    def set_team(self, members: Iterable[FakeUser | tuple[FakeUser, str]]) -> None:
        """Make a team own the application (member roles: admin, developer, read_only)."""
        team_id = str(snowflake())
        entries = [(m, "admin") if isinstance(m, FakeUser) else m for m in members]
        self.team = {
            "id": team_id,
            "name": "team",
            "icon": None,
            "owner_user_id": str(entries[0][0].id),
            "members": [
                {"user": u.payload(), "team_id": team_id, "membership_state": 2, "role": role}
                for u, role in entries
            ],
        }

    def dm_channel(self, user: FakeUser) -> FakeChannel:
        """The DM channel between the bot and ``user``."""
        return self._dm_channels.setdefault(user.id, FakeChannel(snowflake(), "", None, user))

    def channel(self, channel_id: int | str) -> FakeChannel | None:
        """The guild or DM channel with this id."""
        guild_channels = (g.channels for g in self.guilds.values())
        channels = itertools.chain(self._dm_channels.values(), *guild_channels)
        return next((c for c in channels if c.id == int(channel_id)), None)

    def refuse_dms(self, user: FakeUser) -> None:
        """Make the bot's DMs to ``user`` fail with 403 50007."""
        self._refused.add(user.id)

    def add_attachment(
        self, filename: str, data: bytes, content_type: str | None = None
    ) -> FakeAttachment:
        """Register a file to pass as an ATTACHMENT option; the fake serves it."""
        file = FakeAttachment(snowflake(), filename, data, content_type)
        self._files[file.id] = file
        return file

    def file_bytes(self, attachment: Json) -> bytes:
        """The bytes of an attachment object from a recorded message."""
        return self._files[int(attachment["id"])].data

    def add_command(self, name: str, *, guild: FakeGuild | None = None, type: int = 1) -> Json:
        """Register a command as if synced by an earlier run of the bot."""
        scope = guild.id if guild else None
        command = self._stored_command({"name": name, "type": type}, scope, {})
        self._commands.setdefault(scope, []).append(command)
        return command

    def synced_commands(self, guild: FakeGuild | None = None) -> list[Json]:
        """The global commands, or ``guild``'s, as last synced."""
        return list(self._commands.get(guild.id if guild else None, []))

    def add_bot_message(
        self,
        where: FakeChannel | FakeUser,
        content: str = "",
        *,
        components: Sequence[Json] = (),
        embeds: Sequence[Json] = (),
    ) -> Json:
        """A message the bot sent before the test (e.g. carrying a persistent view)."""
        channel = self.dm_channel(where) if isinstance(where, FakeUser) else where
        payload = {"content": content, "components": list(components), "embeds": list(embeds)}
        return self._create_message(channel, payload, [])

    def add_user_message(
        self,
        author: FakeUser,
        channel: FakeChannel,
        content: str = "",
        *,
        attachments: Sequence[FakeAttachment] = (),
    ) -> Json:
        """A message a member posted in a channel (a target for message context menus)."""
        message = self._create_message(channel, {"content": content}, [])
        message["author"] = author.payload()
        message["attachments"] = [file.payload(self.base_url) for file in attachments]
        for file in attachments:
            self._files[file.id] = file
        return message

    def message(self, message_id: int | str) -> Json | None:
        """The live message with this id; None if unknown or deleted."""
        return self.messages.get(int(message_id))

    def messages_in(self, where: FakeChannel | FakeUser) -> list[Json]:
        """What the bot posted to a channel, or to a user's DMs (as posted)."""
        channel = self.dm_channel(where) if isinstance(where, FakeUser) else where
        return list(self._posted.get(channel.id, []))

    def dm_messages(self, user: FakeUser) -> list[Json]:
        """What the bot sent ``user`` in DMs (as posted)."""
        return self.messages_in(user)

    async def wait_message(self, where: FakeChannel | FakeUser) -> Json:
        """Wait for the next message posted there, not returned yet."""
        channel = self.dm_channel(where) if isinstance(where, FakeUser) else where

        def probe() -> Json | None:
            posted, seen = self._posted.get(channel.id, []), self._seen_posted.get(channel.id, 0)
            if len(posted) <= seen:
                return None
            self._seen_posted[channel.id] = seen + 1
            return posted[seen]

        return await self._wait(probe, f"message in channel {channel.id}")

    async def wait_dm(self, user: FakeUser) -> Json:
        """Wait for the next DM to ``user``, not returned yet."""
        return await self.wait_message(user)

    async def wait_connected(self) -> None:
        """Wait until a bot has identified (or resumed) and can receive events."""
        await self._wait(
            lambda: True if any(s.ready for s in self._sessions) else None, "connected bot"
        )

    async def wait_for(
        self, predicate: Callable[[RecordedRequest], bool], *, since: int = 0
    ) -> RecordedRequest:
        """Wait for a request matching ``predicate`` among ``requests[since:]``."""

        def match() -> RecordedRequest | None:
            return next((r for r in self.requests[since:] if predicate(r)), None)

        return await self._wait(match, "matching request")

    # -- what users do ---------------------------------------------------------------------

    async def slash_command(
        self,
        user: FakeUser,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        guild: FakeGuild | None = None,
        channel: FakeChannel | None = None,
        focused: str | None = None,
    ) -> FakeInteraction:
        """Run ``/name`` (``"group sub"`` for subcommands); returns once dispatched.

        Option values: str, int, float, bool, FakeUser, FakeChannel, FakeRole, FakeAttachment.
        With ``focused`` (an option's name) it is an autocomplete request instead.
        """
        path = name.split()
        data = self._command_data(path[0], 1, guild)
        resolved: dict[str, Json] = {}
        built = [self._option(k, v, guild, resolved) for k, v in (options or {}).items()]
        for option in built:
            if option["name"] == focused:
                option["focused"] = True
        for depth, part in reversed(list(enumerate(path[1:], 2))):
            built = [{"name": part, "type": 1 if depth == len(path) else 2, "options": built}]
        data.update(options=built, resolved=resolved)
        return await self._interact(2 if focused is None else 4, data, (user, guild, channel))

    async def context_menu(
        self,
        user: FakeUser,
        name: str,
        target: Json | FakeUser,
        *,
        guild: FakeGuild | None = None,
    ) -> FakeInteraction:
        """Run a context-menu command on a message (a message dict) or on a user."""
        resolved: dict[str, Json] = {}
        channel = None
        if isinstance(target, FakeUser):
            data = self._command_data(name, 2, guild)
            target_id = self._option("user", target, guild, resolved)["value"]
        else:
            data = self._command_data(name, 3, guild)
            message = self.messages.get(int(target["id"]), target)
            target_id = message["id"]
            resolved["messages"] = {target_id: message}
            channel = self.channel(message["channel_id"])
        data.update(target_id=target_id, resolved=resolved)
        return await self._interact(2, data, (user, guild, channel))

    async def click_button(self, user: FakeUser, message: Json, custom_id: str) -> FakeInteraction:
        """Click button ``custom_id`` of ``message``."""
        return await self._use_component(user, message, custom_id, 2, None)

    async def select(
        self, user: FakeUser, message: Json, custom_id: str, values: Sequence[str]
    ) -> FakeInteraction:
        """Pick ``values`` in string select ``custom_id`` of ``message``."""
        return await self._use_component(user, message, custom_id, 3, list(values))

    async def submit_modal(
        self, origin: FakeInteraction, values: Mapping[str, str | Sequence[str]]
    ) -> FakeInteraction:
        """Fill in and submit the modal the bot answered ``origin`` with (values by custom_id)."""
        modal = next((r for r in origin.responses if r.type == ResponseType.MODAL), None)
        if modal is None:
            raise ValueError(f"interaction {origin.id} was not answered with a modal")
        used: set[str] = set()
        answers = [_modal_answer(c, values, used) for c in modal.components]
        if unknown := set(values) - used:
            raise ValueError(f"the modal has no inputs {sorted(unknown)}, only {sorted(used)}")
        data = {"custom_id": modal.data["custom_id"], "components": answers}
        where = (origin.user, origin.guild, origin.channel)
        return await self._interact(5, data, where, origin.message)

    async def dispatch_event(self, name: str, data: Json, *, guild_id: int | None = None) -> None:
        """Send a gateway event to the connected bot(s)."""
        sessions = [s for s in self._sessions if s.ready and s.handles(guild_id)]
        if not sessions:
            raise RuntimeError(f"no bot is connected to receive {name}")
        for session in sessions:
            await session.send(0, data, name)

    async def drop_connections(self) -> None:
        """Close every gateway connection like a Discord-side hiccup (the bots resume)."""
        for session in list(self._sessions):
            await session.ws.close(code=4000)

    # -- internals: waiting and interactions -------------------------------------------------

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _wait(self, probe: Callable[[], T | None], what: str) -> T:
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

    def _command_data(self, name: str, kind: int, guild: FakeGuild | None) -> Json:
        for scope in [guild.id] if guild else []:
            for command in self._commands.get(scope, []):
                if (command["name"], command["type"]) == (name, kind):
                    return {"id": command["id"], "name": name, "type": kind, "guild_id": str(scope)}
        for command in self._commands.get(None, []):
            if (command["name"], command["type"]) == (name, kind):
                return {"id": command["id"], "name": name, "type": kind}
        raise LookupError(f"command {name!r} of type {kind} was never synced (see add_command)")

    def _option(self, name: str, value: Any, guild: FakeGuild | None, resolved: Json) -> Json:
        if isinstance(value, FakeUser):
            kind, found = 6, {"users": value.payload()}
            if guild and value.id in guild.members:
                found["members"] = guild.members[value.id].payload(with_user=False)
        elif isinstance(value, FakeChannel):
            kind, found = 7, {"channels": {**value.payload(), "permissions": str(ALL_PERMISSIONS)}}
        elif isinstance(value, FakeRole):
            kind, found = 8, {"roles": value.payload()}
        elif isinstance(value, FakeAttachment):
            kind, found = 11, {"attachments": value.payload(self.base_url)}
        else:
            kinds = {bool: 5, int: 4, float: 10, str: 3}
            if type(value) not in kinds:
                raise TypeError(f"unsupported option value {value!r}")
            return {"name": name, "type": kinds[type(value)], "value": value}
        for key, item in found.items():
            resolved.setdefault(key, {})[str(value.id)] = item
        return {"name": name, "type": kind, "value": str(value.id)}

    async def _use_component(
        self, user: FakeUser, message: Json, custom_id: str, kind: int, values: list[str] | None
    ) -> FakeInteraction:
        live = self.messages.get(int(message["id"]), message)
        found = {c.get("custom_id"): c for c in _walk(live.get("components") or [])}
        component = found.get(custom_id)
        if component is None or component["type"] != kind:
            known = sorted(k for k in found if k)
            raise ValueError(f"no component {custom_id!r} of type {kind} on the message: {known}")
        if component.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled")
        channel = self.channel(live["channel_id"])
        if channel is None:
            raise LookupError(f"message {live['id']} is in an unknown channel")
        data: Json = {"custom_id": custom_id, "component_type": kind}
        if values is not None:
            data["values"] = values
        guild = self.guilds.get(channel.guild_id or 0)
        return await self._interact(3, data, (user, guild, channel), live)

    async def _interact(
        self,
        kind: int,
        data: Json,
        where: tuple[FakeUser, FakeGuild | None, FakeChannel | None],
        message: Json | None = None,
    ) -> FakeInteraction:
        user, guild, channel = where
        channel = channel or (guild.channel if guild else self.dm_channel(user))
        payload: Json = {
            "id": str(snowflake()),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "token": secrets.token_urlsafe(48),
            "version": 1,
            "locale": "en-US",
            "attachment_size_limit": 10 * 1024 * 1024,
            "channel": channel.payload(),
            "channel_id": str(channel.id),
        }
        if guild is not None:
            if user.id not in guild.members:
                raise LookupError(f"{user.name} is not a member of {guild.name}: add_member")
            payload.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                member=guild.members[user.id].payload(),
                app_permissions=str(guild.bot_role.permissions),
                context=0,
            )
        else:
            dm_perms = discord.Permissions.text().value
            payload.update(user=user.payload(), app_permissions=str(dm_perms), context=1)
        if message is not None:
            payload["message"] = message
        interaction = FakeInteraction(self, payload, (user, guild, channel), message)
        self.interactions[interaction.id] = interaction
        guild_id = guild.id if guild else None
        await self.dispatch_event("INTERACTION_CREATE", payload, guild_id=guild_id)
        return interaction

    # -- internals: messages ---------------------------------------------------------------

    def _attachments(
        self, payload: Json, files: list[RecordedFile], existing: list[Json]
    ) -> list[Json]:
        """Attachments after a create/edit: kept ones (listed by id) plus uploads."""
        uploads = {}
        for index, file in enumerate(files):
            match = re.fullmatch(r"files\[(\d+)\]", file.field)
            uploads[int(match[1]) if match else index] = file
        listed = payload.get("attachments")
        if listed is None:
            result, wanted = list(existing), sorted(uploads)
        else:
            kept = {str(a["id"]): a for a in existing}
            result = [kept[str(a["id"])] for a in listed if str(a["id"]) in kept]
            wanted = [int(a["id"]) for a in listed if str(a["id"]) not in kept]
        for key in wanted:
            upload = uploads[key]
            stored = FakeAttachment(snowflake(), upload.filename, upload.data, upload.content_type)
            self._files[stored.id] = stored
            result.append(stored.payload(self.base_url))
        return result

    def _create_message(
        self,
        channel: FakeChannel,
        payload: Json,
        files: list[RecordedFile],
        *,
        kind: int = 0,
        flags: int = 0,
        webhook: bool = False,
    ) -> Json:
        message: Json = {
            "id": str(snowflake()),
            "channel_id": str(channel.id),
            "author": self.bot_user.payload(),
            "content": payload.get("content") or "",
            "embeds": payload.get("embeds") or [],
            "components": payload.get("components") or [],
            "attachments": self._attachments(payload, files, []),
            "flags": (payload.get("flags") or 0) | flags,
            "type": kind,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "mentions": [],
        }
        if channel.guild_id is not None:
            message["guild_id"] = str(channel.guild_id)
        if webhook:
            message["webhook_id"] = message["application_id"] = str(self.application_id)
        if payload.get("message_reference"):
            message["message_reference"] = payload["message_reference"]
        self.messages[int(message["id"])] = message
        return message

    def _edit_message(self, message: Json, payload: Json, files: list[RecordedFile]) -> Json:
        for key in ("content", "embeds", "components"):
            if key in payload:
                message[key] = payload[key] or ("" if key == "content" else [])
        if payload.get("flags") is not None:
            message["flags"] = (payload["flags"] & ~EPHEMERAL) | (message["flags"] & EPHEMERAL)
        if "attachments" in payload or files:
            message["attachments"] = self._attachments(payload, files, message["attachments"])
        message["flags"] &= ~LOADING
        message["edited_timestamp"] = _now_iso()
        return message

    # -- internals: REST ---------------------------------------------------------------------

    def _recorded(
        self, handler: Handler, *, auth: bool
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            body, files = await _read_body(request)
            path = request.path.removeprefix(API)
            record = RecordedRequest(
                request.method, path, dict(request.query), body, files, self.now()
            )
            response: web.StreamResponse
            try:
                if auth and request.headers.get("Authorization") != f"Bot {self.token}":
                    response = _error(401, 0, "401: Unauthorized")
                else:
                    response = await handler(request, record)
            except Exception as exc:
                _log.exception("the fake Discord failed on %s", record)
                self.errors.append(exc)
                response = _error(400, 0, f"the fake Discord failed: {exc!r}")
            record.status, record.response = response.status, getattr(response, "data", None)
            self.requests.append(record)
            await self._notify()
            return response

        return handle

    async def _not_found(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        return _error(404, 0, "404: Not Found")

    async def _get_file(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        file = self._files.get(int(request.match_info["file"]))
        if file is None:
            return web.Response(status=404)
        return web.Response(
            body=file.data, content_type=file.content_type or "application/octet-stream"
        )

    async def _get_gateway(
        self, request: web.Request, record: RecordedRequest
    ) -> web.StreamResponse:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return _JsonResponse(
            {"url": self.gateway_url, "shards": self.shard_count, "session_start_limit": limit}
        )

    async def _get_me(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        return _JsonResponse({**self.bot_user.payload(), "verified": True, "flags": 0})

    async def _get_user(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        user = self.users.get(int(request.match_info["user"]))
        return _JsonResponse(user.payload()) if user else _error(404, 10013, "Unknown User")

    async def _get_application(
        self, request: web.Request, record: RecordedRequest
    ) -> web.StreamResponse:
        owner = self.owner.payload()
        if self.team is not None:
            # A team-owned application's owner is the team's pseudo-user.
            owner = {
                **owner,
                "id": self.team["id"],
                "username": f"team{self.team['id']}",
                "flags": 1024,
            }
        return _JsonResponse(
            {
                "id": str(self.application_id),
                "name": self.bot_user.name,
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": owner,
                "team": self.team,
                "verify_key": "0" * 64,
                "flags": 0,
            }
        )

    def _stored_command(
        self, command: Json, scope: int | None, old: Mapping[tuple[str, int], Json]
    ) -> Json:
        kind = command.get("type", 1)
        previous = old.get((command["name"], kind))
        stored = {"description": "", "options": [], **command, "type": kind}
        # Re-synced commands keep their ids, like on Discord.
        stored["id"] = previous["id"] if previous else str(snowflake())
        stored.update(application_id=str(self.application_id), version=str(snowflake()))
        return stored if scope is None else {**stored, "guild_id": str(scope)}

    async def _commands_route(
        self, request: web.Request, record: RecordedRequest
    ) -> web.StreamResponse:
        scope = int(request.match_info["guild"]) if "guild" in request.match_info else None
        if request.method == "PUT":
            old = {(c["name"], c["type"]): c for c in self._commands.get(scope, [])}
            self._commands[scope] = [self._stored_command(c, scope, old) for c in record.json]
        elif request.method != "GET":
            return _error(405, 0, "405: Method Not Allowed")
        return _JsonResponse(self._commands.get(scope, []))

    async def _callback(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        interaction = self.interactions.get(int(request.match_info["id"]))
        if interaction is None or interaction.token != request.match_info["token"]:
            return _error(404, 10062, "Unknown interaction")
        body = record.json or {}
        kind, data = int(body.get("type", 0)), body.get("data") or {}
        latency = self.now() - interaction.dispatched_at
        callback = RecordedCallback(kind, data, record.files, latency)
        interaction.responses.append(callback)
        if self.response_deadline is not None and latency > self.response_deadline:
            callback.status = 404
            return _error(404, 10062, "Unknown interaction")
        if interaction.acknowledged:
            callback.status = 400
            return _error(400, 40060, "Interaction has already been acknowledged.")
        message = None
        if interaction.message is not None:
            message = self.messages.get(int(interaction.message["id"]), interaction.message)
        if (kind in (6, 7) and message is None) or (kind == 9 and interaction.type == 5):
            callback.status = 400
            return _error(400, 50035, f"Invalid Form Body: callback type {kind} not allowed here")
        if kind in (4, 5):
            message_kind = 0 if interaction.type == 3 else 20
            loading = LOADING if kind == 5 else 0
            message = self._create_message(
                interaction.channel,
                data,
                record.files,
                kind=message_kind,
                flags=loading,
                webhook=True,
            )
        elif kind == 7 and message is not None:
            self._edit_message(message, data, record.files)
        callback.status = 200
        info: Json = {"id": str(interaction.id), "type": interaction.type}
        resource: Json = {"type": kind}
        if kind in (4, 5, 6, 7) and message is not None:
            interaction.original = message
            interaction.message_ids.add(int(message["id"]))
            callback.message = copy.deepcopy(message)
            resource["message"] = message
            info.update(
                response_message_id=message["id"],
                response_message_loading=bool(message["flags"] & LOADING),
                response_message_ephemeral=bool(message["flags"] & EPHEMERAL),
            )
        return _JsonResponse({"interaction": info, "resource": resource})

    def _webhook_interaction(self, request: web.Request) -> FakeInteraction | None:
        token, app = request.match_info["token"], request.match_info["app"]
        found = next((i for i in self.interactions.values() if i.token == token), None)
        ok = found is not None and found.acknowledged and app == str(self.application_id)
        return found if ok else None

    async def _followup(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        interaction = self._webhook_interaction(request)
        if interaction is None:
            return _error(404, 10015, "Unknown Webhook")
        original = interaction.original
        if original is not None and original["flags"] & LOADING:
            # The first followup after a "thinking" defer replaces the placeholder.
            message = self._edit_message(original, record.json or {}, record.files)
        else:
            message = self._create_message(
                interaction.channel, record.json or {}, record.files, kind=20, webhook=True
            )
            interaction.message_ids.add(int(message["id"]))
        interaction.followups.append(copy.deepcopy(message))
        if request.query.get("wait") in ("1", "true", "True"):
            return _JsonResponse(message)
        return web.Response(status=204)

    async def _webhook_message(
        self, request: web.Request, record: RecordedRequest
    ) -> web.StreamResponse:
        interaction = self._webhook_interaction(request)
        if interaction is None:
            return _error(404, 10015, "Unknown Webhook")
        wanted = request.match_info["message"]
        message = interaction.original if wanted == "@original" else None
        if wanted.isdigit() and int(wanted) in interaction.message_ids:
            message = self.messages.get(int(wanted))
        if message is None or int(message["id"]) not in self.messages:
            return _error(404, 10008, "Unknown Message")
        response = self._message_method(request, record, message)
        if request.method == "PATCH" and message is interaction.original:
            interaction.edits.append(copy.deepcopy(message))
        return response

    async def _create_dm(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        user = self.users.get(int((record.json or {}).get("recipient_id", 0)))
        if user is None:
            return _error(400, 50035, "Invalid Form Body: unknown recipient_id")
        return _JsonResponse(self.dm_channel(user).payload())

    async def _post_message(
        self, request: web.Request, record: RecordedRequest
    ) -> web.StreamResponse:
        channel = self.channel(request.match_info["channel"])
        if channel is None:
            return _error(404, 10003, "Unknown Channel")
        if channel.recipient is not None and channel.recipient.id in self._refused:
            return _error(403, 50007, "Cannot send messages to this user")
        payload = record.json or {}
        kind = 19 if payload.get("message_reference") else 0
        message = self._create_message(channel, payload, record.files, kind=kind)
        self._posted.setdefault(channel.id, []).append(copy.deepcopy(message))
        return _JsonResponse(message)

    async def _channel_message(
        self, request: web.Request, record: RecordedRequest
    ) -> web.StreamResponse:
        message = self.messages.get(int(request.match_info["message"]))
        if message is None or message["channel_id"] != request.match_info["channel"]:
            return _error(404, 10008, "Unknown Message")
        return self._message_method(request, record, message)

    def _message_method(
        self, request: web.Request, record: RecordedRequest, message: Json
    ) -> web.StreamResponse:
        if request.method == "PATCH":
            self._edit_message(message, record.json or {}, record.files)
        elif request.method == "DELETE":
            del self.messages[int(message["id"])]
            return web.Response(status=204)
        elif request.method != "GET":
            return _error(405, 0, "405: Method Not Allowed")
        return _JsonResponse(message)

    # -- internals: gateway ------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        session = _Session(ws)
        self._sessions.append(session)
        try:
            await session.send(10, {"heartbeat_interval": 41250})
            async for frame in ws:
                if frame.type is aiohttp.WSMsgType.TEXT:
                    message = json.loads(frame.data)
                    if message["op"] == 1:
                        await session.send(11, None)
                    elif message["op"] == 2:
                        await self._identify(session, message["d"])
                    elif message["op"] == 6:
                        await self._resume(session, message["d"])
        finally:
            self._sessions.remove(session)
            if session.session_id:
                self._resumable[session.session_id] = session
            await self._notify()
        return ws

    async def _resume(self, session: _Session, data: Json) -> None:
        # Resuming matters: discord.py waits 5 s before any re-IDENTIFY of a client.
        old = self._resumable.pop(data.get("session_id", ""), None)
        if old is None or data.get("token") != self.token:
            await session.send(9, False)
            return
        session.session_id, session.shard, session.seq = old.session_id, old.shard, old.seq
        session.ready = True
        self.resumes += 1
        await session.send(0, {}, "RESUMED")
        await self._notify()

    async def _identify(self, session: _Session, data: Json) -> None:
        if data.get("token") != self.token:
            await session.ws.close(code=4004, message=b"Authentication failed.")
            return
        if shard := data.get("shard"):
            session.shard = (int(shard[0]), int(shard[1]))
        self.identifies.append({k: v for k, v in data.items() if k != "token"})
        guilds = [g for g in self.guilds.values() if session.handles(g.id)]
        session.session_id = secrets.token_hex(16)
        ready: Json = {
            "v": 10,
            "user": {**self.bot_user.payload(), "verified": True},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
        }
        if shard:
            ready["shard"] = list(session.shard or ())
        await session.send(0, ready, "READY")
        for guild in guilds:
            bot_member = FakeMember(self.bot_user, guild, [guild.bot_role]).payload()
            await session.send(0, guild.payload(bot_member), "GUILD_CREATE")
        session.ready = True
        await self._notify()
