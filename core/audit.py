"""The audit log: every admin action, written in the same transaction as the action itself."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import SessionFactory
from core.models import AuditEntry


class Action(enum.StrEnum):
    """What an admin did (or, for MOVE, what a member's proof of an X account did)."""

    UNLINK = "unlink"
    BLOCK = "block"
    UNBLOCK = "unblock"
    SETTINGS = "settings"
    MOVE = "move"  # an X account moved to the Discord user who proved it, from its holder


@dataclass(frozen=True)
class Actor:
    """Who acts: a Discord user, or (id None) the operator at the command line."""

    discord_user_id: int | None

    @classmethod
    def command_line(cls) -> Actor:
        """The operator using `tweetlink` on the server."""
        return cls(None)


@dataclass(frozen=True)
class AuditRecord:
    """One line of the audit log."""

    actor_id: int | None
    action: str
    target_id: int | None
    guild_id: int | None
    reason: str | None
    created_at: datetime


def record(
    session: AsyncSession,
    actor: Actor,
    action: Action,
    *,
    target_id: int | None = None,
    guild_id: int | None = None,
    reason: str | None = None,
    at: datetime,
) -> None:
    """Add an audit row to the caller's transaction."""
    session.add(
        AuditEntry(
            actor_id=actor.discord_user_id,
            action=action,
            target_id=target_id,
            guild_id=guild_id,
            reason=(reason or None) and reason[:500],
            created_at=at,
        )
    )


class AuditLog:
    """Reading the audit log."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def recent(
        self,
        *,
        target_id: int | None = None,
        guild_id: int | None = None,
        limit: int = 50,
    ) -> Sequence[AuditRecord]:
        """The newest entries first, optionally about one member or in one server."""
        query = select(AuditEntry).order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        if target_id is not None:
            query = query.where(AuditEntry.target_id == target_id)
        if guild_id is not None:
            query = query.where(AuditEntry.guild_id == guild_id)
        async with self._sessions() as session:
            rows = await session.scalars(query.limit(limit))
            return [
                AuditRecord(r.actor_id, r.action, r.target_id, r.guild_id, r.reason, r.created_at)
                for r in rows
            ]
