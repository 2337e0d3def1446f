"""Linked Roles: a member's linked X account written to their Discord role connection.

A member signs in with Discord once (`begin_sign_in`, `finish_sign_in`); we keep their OAuth2
grant, sealed, in `role_connections`. What Discord shows must follow the link: the row also
records what we last wrote (`pushed_*`), and wherever that differs from the member's working
link (relinked, unlinked, moved to another member, revoked at X) a push is due. Front doors push
right after they change a link; the housekeeping sweep pushes whatever is still due, so a
failure to reach Discord is retried, never lost.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from core import errors
from core.clock import Clock, utcnow
from core.db import SessionFactory
from core.discord_oauth import DiscordGrant, DiscordOAuthClient, RoleConnectionValues
from core.models import DiscordSignIn, LinkedAccount, RoleConnection
from core.sealing import Sealer

log = logging.getLogger(__name__)

REFRESH_AHEAD = timedelta(minutes=1)  # refresh an access token this close to expiring
PUSH_ROUNDS = 3  # a link that changes while we push is pushed again, up to this many times
SWEEP_BATCH = 200

_rc, _link = RoleConnection, LinkedAccount
_WORKING_LINK = and_(_link.discord_user_id == _rc.discord_user_id, _link.revoked_at.is_(None))
_SELECT_GRANT_AND_LINK = select(
    _rc.access_token_sealed,
    _rc.refresh_token_sealed,
    _rc.expires_at,
    _rc.pushed_twitter_user_id,
    _rc.pushed_screen_name,
    _rc.pushed_linked_at,
    _link.twitter_user_id,
    _link.screen_name,
    _link.linked_at,
).outerjoin(_link, _WORKING_LINK)
_SELECT_DUE = (
    select(_rc.discord_user_id)
    .outerjoin(_link, _WORKING_LINK)
    .where(
        or_(
            _rc.pushed_twitter_user_id.is_distinct_from(_link.twitter_user_id),
            _rc.pushed_screen_name.is_distinct_from(_link.screen_name),
            _rc.pushed_linked_at.is_distinct_from(_link.linked_at),
        )
    )
    .order_by(_rc.updated_at)
)


@functools.cache
def _upsert_grant(dialect: str) -> Any:
    """Insert a member's grant, or replace their earlier one (forgetting what was pushed)."""
    upsert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(RoleConnection)
    replaced = ("access_token_sealed", "refresh_token_sealed", "expires_at", "updated_at")
    forgotten = ("pushed_twitter_user_id", "pushed_screen_name", "pushed_linked_at")
    return upsert.on_conflict_do_update(
        index_elements=[_rc.discord_user_id],
        set_={name: upsert.excluded[name] for name in replaced} | dict.fromkeys(forgotten),
    )


class _GrantRow(Protocol):
    access_token_sealed: str
    refresh_token_sealed: str
    expires_at: datetime


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    """A finished Linked Roles sign-in: who, and the X handle now on their profile (if any)."""

    discord_user_id: int
    screen_name: str | None
    written: bool  # False: Discord failed the write; the sweep retries it


class RoleConnectionService:
    """The Linked Roles use cases: sign in with Discord, and keep role connections true."""

    def __init__(
        self,
        sessions: SessionFactory,
        sealer: Sealer,
        discord: DiscordOAuthClient | None,
        *,
        sign_in_ttl: timedelta,
        clock: Clock = utcnow,
    ) -> None:
        self._sessions = sessions
        self._sealer = sealer
        self._discord = discord  # None: Linked Roles are not set up
        self._sign_in_ttl = sign_in_ttl
        self._clock = clock
        self._pushing: set[asyncio.Task[Any]] = set()

    @property
    def enabled(self) -> bool:
        """Whether the operator set Linked Roles up (DISCORD_CLIENT_ID and _SECRET)."""
        return self._discord is not None

    async def begin_sign_in(self, browser_secret: str) -> str:
        """A single-use `state` bound to this browser's secret; returns Discord's authorize URL."""
        discord = self._require_discord()
        state = secrets.token_urlsafe(32)
        now = self._clock()
        async with self._sessions.begin() as session:
            await session.execute(delete(DiscordSignIn).where(DiscordSignIn.expires_at <= now))
            await session.execute(
                insert(DiscordSignIn).values(
                    state_hash=_digest(state),
                    browser_hash=_digest(browser_secret),
                    expires_at=now + self._sign_in_ttl,
                )
            )
        return discord.authorize_url(state)

    async def finish_sign_in(self, state: str, browser_secret: str, code: str) -> SignedIn:
        """Use up the `state`, trade the code for the member's grant, and write their role
        connection from their link."""
        discord = self._require_discord()
        now = self._clock()
        async with self._sessions.begin() as session:
            used = await session.execute(
                delete(DiscordSignIn)
                .where(
                    DiscordSignIn.state_hash == _digest(state),
                    DiscordSignIn.browser_hash == _digest(browser_secret),
                    DiscordSignIn.expires_at > now,
                )
                .returning(DiscordSignIn.state_hash)
            )
            if used.first() is None:
                raise errors.SignInExpired()
        grant = await discord.exchange_code(code, now)
        if "role_connections.write" not in grant.scopes:
            raise errors.DiscordDenied()
        member_id = await discord.current_user_id(grant.access_token)
        async with self._sessions.begin() as session:
            dialect = session.get_bind().dialect.name
            await session.execute(
                _upsert_grant(dialect).values(
                    discord_user_id=member_id,
                    **self._sealed(grant),
                    pushed_twitter_user_id=None,
                    pushed_screen_name=None,
                    pushed_linked_at=None,
                )
            )
        try:
            pushed = await self._push(member_id, force=True)
        except errors.DiscordUnavailable:
            log.warning("Discord failed the role connection of user %s; will retry", member_id)
            async with self._sessions.begin() as session:
                link = await session.get(LinkedAccount, member_id)
            handle = link.screen_name if link and link.revoked_at is None else None
            return SignedIn(member_id, handle, written=False)
        return SignedIn(member_id, pushed.screen_name if pushed else None, written=True)

    async def push(self, *discord_user_ids: int | None) -> None:
        """Bring these members' role connections up to date with their links. A member who never
        signed in with Discord is nothing to do; Discord failing is left for the sweep."""
        if self._discord is None:
            return
        # The caller's whole task is awaited on shutdown (finish_pushes), so a push is not cut
        # off halfway with a connection open.
        task = asyncio.current_task()
        if task is not None:
            self._pushing.add(task)
            task.add_done_callback(self._pushing.discard)
        for member_id in discord_user_ids:
            if member_id is None:
                continue
            try:
                await self._push(member_id)
            except errors.DiscordUnavailable:
                log.warning("Discord failed the role connection of user %s; will retry", member_id)

    async def push_due(self) -> tuple[int, int]:
        """The sweep: push the role connections that differ from their member's link, up to
        SWEEP_BATCH. Returns (pushed, failed); at the first failure it stops."""
        if self._discord is None:
            return 0, 0
        async with self._sessions.begin() as session:
            due = (await session.scalars(_SELECT_DUE.limit(SWEEP_BATCH))).all()
        pushed = 0
        for member_id in due:
            try:
                await self._push(member_id)
            except errors.DiscordUnavailable:
                # Discord is down: the rest waits for the next sweep, which keeps a sweep (and
                # a shutdown waiting for it) to one timeout.
                return pushed, 1
            pushed += 1
        return pushed, 0

    async def finish_pushes(self) -> None:
        """Wait for the pushes under way (the caller bounds the wait)."""
        if self._pushing:
            await asyncio.wait(self._pushing)

    async def purge_expired(self) -> int:
        """Delete sign-ins whose time ran out; returns how many."""
        async with self._sessions.begin() as session:
            gone = await session.execute(
                delete(DiscordSignIn)
                .where(DiscordSignIn.expires_at <= self._clock())
                .returning(DiscordSignIn.state_hash)
            )
            return len(gone.all())

    async def _push(self, member_id: int, *, force: bool = False) -> RoleConnectionValues | None:
        """Write the member's role connection if it is due (or `force`), then record what was
        written; if the link changed meanwhile, go again. None: no grant (or it was revoked)."""
        discord = self._require_discord()
        values: RoleConnectionValues | None = None
        for _ in range(PUSH_ROUNDS):
            async with self._sessions.begin() as session:
                row = (
                    await session.execute(
                        _SELECT_GRANT_AND_LINK.where(_rc.discord_user_id == member_id)
                    )
                ).first()
            if row is None:
                return None
            values = RoleConnectionValues(row.screen_name, row.linked_at)
            pushed = (row.pushed_twitter_user_id, row.pushed_screen_name, row.pushed_linked_at)
            if pushed == (row.twitter_user_id, row.screen_name, row.linked_at) and not force:
                return values
            force = False
            try:
                access_token = await self._fresh_access_token(member_id, row)
                try:
                    await discord.put_role_connection(access_token, values)
                except errors.DiscordGrantRevoked:
                    # An access token can die before its time (or our clock is off): the
                    # refresh token says whether the grant itself is gone.
                    access_token = await self._refreshed_access_token(member_id, row)
                    await discord.put_role_connection(access_token, values)
            except errors.DiscordGrantRevoked:
                if await self._grant_replaced(member_id, row.refresh_token_sealed):
                    force = True  # another process refreshed it first, or a new sign-in
                    continue
                await self._forget(member_id)
                log.info("user %s removed tweetlink's Discord access; grant forgotten", member_id)
                return None
            async with self._sessions.begin() as session:
                await session.execute(
                    update(RoleConnection)
                    .where(_rc.discord_user_id == member_id)
                    .values(
                        pushed_twitter_user_id=row.twitter_user_id,
                        pushed_screen_name=row.screen_name,
                        pushed_linked_at=row.linked_at,
                        updated_at=self._clock(),
                    )
                )
        return values

    async def _fresh_access_token(self, member_id: int, grant_row: _GrantRow) -> str:
        """The member's access token, refreshed first when it has (nearly) expired."""
        now = self._clock()
        if grant_row.expires_at > now + REFRESH_AHEAD:
            return self._sealer.open(grant_row.access_token_sealed)
        return await self._refreshed_access_token(member_id, grant_row)

    async def _refreshed_access_token(self, member_id: int, grant_row: _GrantRow) -> str:
        """A new access token from the member's refresh token, stored sealed."""
        discord = self._require_discord()
        now = self._clock()
        grant = await discord.refresh(self._sealer.open(grant_row.refresh_token_sealed), now)
        async with self._sessions.begin() as session:
            await session.execute(
                update(RoleConnection)
                .where(_rc.discord_user_id == member_id)
                .values(**self._sealed(grant))
            )
        return grant.access_token

    async def _grant_replaced(self, member_id: int, refresh_token_sealed: str) -> bool:
        async with self._sessions.begin() as session:
            now_sealed = await session.scalar(
                select(_rc.refresh_token_sealed).where(_rc.discord_user_id == member_id)
            )
        return now_sealed is not None and now_sealed != refresh_token_sealed

    async def _forget(self, member_id: int) -> None:
        async with self._sessions.begin() as session:
            await session.execute(delete(RoleConnection).where(_rc.discord_user_id == member_id))

    def _sealed(self, grant: DiscordGrant) -> dict[str, Any]:
        return {
            "access_token_sealed": self._sealer.seal(grant.access_token),
            "refresh_token_sealed": self._sealer.seal(grant.refresh_token),
            "expires_at": grant.expires_at,
            "updated_at": self._clock(),
        }

    def _require_discord(self) -> DiscordOAuthClient:
        if self._discord is None:
            raise errors.LinkedRolesOff()
        return self._discord
