"""The fake Discord's websocket gateway: HELLO, IDENTIFY, READY, heartbeats, dispatch, and a
dropped connection resumed (RESUME, the events missed meanwhile, RESUMED) as Discord does."""

from __future__ import annotations

import json
import secrets
from enum import IntEnum
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.discord.state import Json, World


class Op(IntEnum):
    """Gateway opcodes the fake sends or understands."""

    DISPATCH = 0
    HEARTBEAT = 1
    IDENTIFY = 2
    RESUME = 6
    INVALID_SESSION = 9
    HELLO = 10
    HEARTBEAT_ACK = 11


class Session:
    """One gateway connection: a bot, or one shard of it."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.seq = 0
        self.shard: tuple[int, int] | None = None  # (shard id, shard count)
        self.ready = False
        self.session_id: str | None = None
        self.missed: list[tuple[str, Json]] = []  # events while disconnected, sent on RESUME

    def handles(self, guild_id: int | None) -> bool:
        """Whether events of this guild come here (DMs go to shard 0, like on Discord)."""
        return self.shard is None or ((guild_id or 0) >> 22) % self.shard[1] == self.shard[0]

    async def send(self, op: Op, d: Any, t: str | None = None) -> None:
        """Send one gateway payload; dispatches are numbered."""
        if op == Op.DISPATCH:
            self.seq += 1
        payload = {"op": op, "d": d, "s": self.seq if op == Op.DISPATCH else None, "t": t}
        await self.ws.send_str(json.dumps(payload))


class Gateway:
    """The ``/gateway`` websocket: bots identify, get READY and their guilds, then events."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.sessions: list[Session] = []
        self.identifies: list[Json] = []  # IDENTIFY payloads without the token
        self.resumed: list[str] = []  # the session ids resumed, in order
        # Sessions whose connection dropped, by session id, until the bot resumes them.
        self._detached: dict[str, Session] = {}

    @property
    def connected(self) -> bool:
        """Whether a bot has identified and can receive events."""
        return any(session.ready for session in self.sessions)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one connection until it closes."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        session = Session(ws)
        self.sessions.append(session)
        try:
            # discord.py sends a heartbeat on this interval; the fake only acknowledges them.
            await session.send(Op.HELLO, {"heartbeat_interval": 41250})
            async for frame in ws:
                if frame.type is aiohttp.WSMsgType.TEXT:
                    message = json.loads(frame.data)
                    if message["op"] == Op.HEARTBEAT:
                        await session.send(Op.HEARTBEAT_ACK, None)
                    elif message["op"] == Op.IDENTIFY:
                        await self._identify(session, message["d"])
                    elif message["op"] == Op.RESUME:
                        await self._resume(session, message["d"])
        finally:
            self.sessions.remove(session)
            if session.ready and session.session_id is not None:
                session.ready = False
                self._detached[session.session_id] = session
        return ws

    async def dispatch(self, name: str, data: Json, *, guild_id: int | None = None) -> None:
        """Send an event to the connected bot (the shard handling ``guild_id``)."""
        sessions = [s for s in self.sessions if s.ready and s.handles(guild_id)]
        detached = [s for s in self._detached.values() if s.handles(guild_id)]
        if not sessions and not detached:
            raise RuntimeError(f"no bot is connected to receive {name}")
        for session in sessions:
            await session.send(Op.DISPATCH, data, name)
        for session in detached:  # delivered when the bot resumes
            session.missed.append((name, data))

    async def drop(self) -> None:
        """Close every connection with 4000 (unknown error): the bot may resume each session.
        Events dispatched from now until it does wait for it."""
        dropped = [session for session in self.sessions if session.ready]
        for session in dropped:
            session.ready = False
            assert session.session_id is not None
            self._detached[session.session_id] = session
        for session in dropped:
            await session.ws.close(code=4000, message=b"Unknown error.")

    async def close(self) -> None:
        """Drop every connection, as Discord going away."""
        for session in list(self.sessions):
            await session.ws.close(code=1001)

    async def _resume(self, session: Session, data: Json) -> None:
        old = self._detached.pop(str(data.get("session_id")), None)
        if old is None or data.get("token") != self.world.token:
            await session.send(Op.INVALID_SESSION, False)  # the bot identifies afresh
            return
        session.session_id, session.shard, session.seq = old.session_id, old.shard, old.seq
        for name, missed in old.missed:
            await session.send(Op.DISPATCH, missed, name)
        await session.send(Op.DISPATCH, {}, "RESUMED")
        session.ready = True
        self.resumed.append(old.session_id or "")
        await self.world.notify()

    async def _identify(self, session: Session, data: Json) -> None:
        world = self.world
        if data.get("token") != world.token:
            await session.ws.close(code=4004, message=b"Authentication failed.")
            return
        if shard := data.get("shard"):
            session.shard = (int(shard[0]), int(shard[1]))
        self.identifies.append({k: v for k, v in data.items() if k != "token"})
        guilds = [g for g in world.guilds.values() if session.handles(g.id)]
        session.session_id = secrets.token_hex(16)
        ready: Json = {
            "v": 10,
            "user": {**world.bot_user.payload(), "verified": True},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "resume_gateway_url": world.gateway_url,
            "application": {"id": str(world.application_id), "flags": 0},
        }
        if session.shard:
            ready["shard"] = list(session.shard)
        await session.send(Op.DISPATCH, ready, "READY")
        # The guilds the bot is in follow READY, so add guilds before the bot connects.
        for guild in guilds:
            await session.send(Op.DISPATCH, guild.payload(world.bot_user), "GUILD_CREATE")
        session.ready = True
        await world.notify()
