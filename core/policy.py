"""Server policy: tweeting on or off, a required role, caps, an announcement channel, blocks."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import delete, select

from core import audit, errors
from core.audit import Action, Actor
from core.clock import Clock, utcnow
from core.config import MAX_DAILY_CAP
from core.db import SessionFactory
from core.models import GuildBlock, GuildPolicy


@dataclass(frozen=True)
class Policy:
    """A server's rules as they apply now (a null cap means the global default)."""

    tweeting_enabled: bool = True
    required_role_id: int | None = None
    daily_cap: int | None = None
    member_daily_cap: int | None = None
    announce_channel_id: int | None = None


POLICY_FIELDS = frozenset(field.name for field in fields(Policy))
MAX_CAP = MAX_DAILY_CAP
_LARGEST_SNOWFLAKE = 2**63 - 1


def check_changes(changes: dict[str, Any]) -> None:
    """Refuse, in words, a cap or an id no Discord option could carry: Discord checks the
    options' ranges, and this checks them again on our side."""
    unknown = set(changes) - POLICY_FIELDS
    if unknown:
        raise ValueError(f"unknown policy fields: {sorted(unknown)}")
    for name, value in changes.items():
        if value is None or name == "tweeting_enabled":
            continue
        if name.endswith("_cap") and not 0 <= value <= MAX_CAP:
            raise errors.InvalidPolicy(f"A daily cap must be between 0 and {MAX_CAP}.")
        if name.endswith("_id") and not 0 < value <= _LARGEST_SNOWFLAKE:
            raise errors.InvalidPolicy("That role or channel is not one Discord knows.")


def _policy_of(row: GuildPolicy | None) -> Policy:
    if row is None:
        return Policy()
    return Policy(**{name: getattr(row, name) for name in POLICY_FIELDS})


class PolicyService:
    """Reading and changing a server's rules; every change is audited."""

    def __init__(self, sessions: SessionFactory, clock: Clock = utcnow) -> None:
        self._sessions = sessions
        self._clock = clock

    async def get(self, guild_id: int) -> Policy:
        """The server's policy, defaults where it set nothing."""
        async with self._sessions() as session:
            return _policy_of(await session.get(GuildPolicy, guild_id))

    async def update(self, actor: Actor, guild_id: int, **changes: Any) -> Policy:
        """Change some of the server's rules; None clears a role, cap or channel."""
        check_changes(changes)
        now = self._clock()
        async with self._sessions.begin() as session:
            row = await session.get(GuildPolicy, guild_id, with_for_update=True)
            if row is None:
                row = GuildPolicy(guild_id=guild_id, tweeting_enabled=True, updated_at=now)
                session.add(row)
            for name, value in changes.items():
                setattr(row, name, value)
            row.updated_at = now
            described = ", ".join(f"{name}={value}" for name, value in sorted(changes.items()))
            audit.record(
                session, actor, Action.SETTINGS, guild_id=guild_id, reason=described, at=now
            )
        return _policy_of(row)

    async def block(
        self, actor: Actor, guild_id: int, member_id: int, reason: str | None = None
    ) -> bool:
        """Stop a member tweeting in this server; False if they already were blocked."""
        now = self._clock()
        async with self._sessions.begin() as session:
            if await session.get(GuildBlock, (guild_id, member_id)) is not None:
                return False
            session.add(
                GuildBlock(
                    guild_id=guild_id,
                    discord_user_id=member_id,
                    blocked_by=actor.discord_user_id or 0,
                    reason=reason,
                    created_at=now,
                )
            )
            audit.record(
                session,
                actor,
                Action.BLOCK,
                target_id=member_id,
                guild_id=guild_id,
                reason=reason,
                at=now,
            )
        return True

    async def unblock(
        self, actor: Actor, guild_id: int, member_id: int, reason: str | None = None
    ) -> bool:
        """Let a member tweet in this server again; False if they were not blocked."""
        async with self._sessions.begin() as session:
            removed = await session.execute(
                delete(GuildBlock)
                .where(GuildBlock.guild_id == guild_id, GuildBlock.discord_user_id == member_id)
                .returning(GuildBlock.discord_user_id)
            )
            if removed.first() is None:
                return False
            audit.record(
                session,
                actor,
                Action.UNBLOCK,
                target_id=member_id,
                guild_id=guild_id,
                reason=reason,
                at=self._clock(),
            )
        return True

    async def is_blocked(self, guild_id: int, member_id: int) -> bool:
        """Whether the member is blocked in this server."""
        async with self._sessions() as session:
            found = await session.scalar(
                select(GuildBlock.discord_user_id).where(
                    GuildBlock.guild_id == guild_id, GuildBlock.discord_user_id == member_id
                )
            )
        return found is not None
