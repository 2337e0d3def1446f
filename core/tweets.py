"""Posting on a member's behalf: validate, preview, reserve against the caps, post, record.

A preview is a draft row, so the Post button works from any bot process and after a restart.
Pressing Post claims the draft (one press wins), then books a `pending` row in the `tweets` ledger
inside a transaction that locks the member's link row and the server's policy row: the cooldown
and the daily caps are counted from that ledger, so they hold across restarts and processes. X's
answer is recorded in the ledger before the member hears it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row

from core import errors, metrics
from core import tweet_statements as sql
from core.clock import Clock, utcnow
from core.db import SessionFactory
from core.models import TweetStatus
from core.sealing import Sealer
from core.tweet_text import check_image, check_text, measure
from core.twitter import TokenPair, TwitterClient

log = logging.getLogger(__name__)

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Image:
    """An image to attach, as bytes."""

    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Limits:
    """What protects the operator's money and the member's account."""

    cooldown: timedelta
    member_daily_cap: int
    guild_daily_cap: int
    delete_window: timedelta = timedelta(hours=24)  # how long Delete from X works after posting


@dataclass(frozen=True)
class Where:
    """Who posts from which server and channel, with the member's roles there."""

    member_id: int
    guild_id: int
    channel_id: int
    role_ids: Collection[int] = ()


@dataclass(frozen=True)
class Draft:
    """A previewed tweet waiting for Post."""

    id: str
    text: str
    weighted_length: int
    has_image: bool
    screen_name: str
    expires_at: datetime


@dataclass(frozen=True)
class PostedTweet:
    """A tweet X accepted."""

    tweet_id: str
    screen_name: str

    @property
    def url(self) -> str:
        """Where the tweet can be seen."""
        return tweet_url(self.screen_name, self.tweet_id)


def tweet_url(screen_name: str, tweet_id: str) -> str:
    """Where a tweet can be seen."""
    return f"https://x.com/{screen_name}/status/{tweet_id}"


@dataclass(frozen=True)
class _Reservation:
    tweet_row_id: int
    screen_name: str
    twitter_user_id: str
    token_sealed: str = field(repr=False)
    secret_sealed: str = field(repr=False)


class TweetService:
    """The posting use cases, shared by /tweet and Post to X."""

    def __init__(
        self,
        sessions: SessionFactory,
        sealer: Sealer,
        twitter: TwitterClient,
        *,
        limits: Limits,
        draft_ttl: timedelta = timedelta(minutes=15),
        clock: Clock = utcnow,
    ) -> None:
        self._sessions = sessions
        self._sealer = sealer
        self._twitter = twitter
        self._limits = limits
        self._draft_ttl = draft_ttl
        self._clock = clock
        self._posting: set[asyncio.Task[Any]] = set()  # the tasks pressing Post, until they end
        self._stopping = False

    async def prepare(self, where: Where, text: str, image: Image | None = None) -> Draft:
        """Check everything that can be checked before X, and keep the tweet as a draft."""
        with metrics.tweet_refusals_counted():
            return await self._prepare(where, text, image)

    async def _prepare(self, where: Where, text: str, image: Image | None) -> Draft:
        measured = check_text(text, has_image=image is not None)
        image_type = check_image(image.data) if image is not None else None
        now = self._clock()
        draft_id, expires_at = secrets.token_urlsafe(16), now + self._draft_ttl
        async with self._sessions.begin() as session:
            rules = (
                await session.execute(sql.SELECT_PREVIEW_RULES, self._figures_of(where, now))
            ).first()
            if rules is None:
                raise errors.NotLinked()
            if rules.revoked_at is not None:
                raise errors.LinkRevoked()
            self._check_rules(where, rules, rules, now)
            await session.execute(
                sql.INSERT_DRAFT,
                {
                    "id": draft_id,
                    "discord_user_id": where.member_id,
                    "guild_id": where.guild_id,
                    "channel_id": where.channel_id,
                    "text": text,
                    "image": image.data if image is not None else None,
                    "image_type": image_type,
                    "created_at": now,
                    "expires_at": expires_at,
                },
            )
        has_image = image is not None
        return Draft(
            draft_id, text, measured.weighted_length, has_image, rules.screen_name, expires_at
        )

    async def cancel(self, draft_id: str, member_id: int) -> None:
        """Drop a draft; cancelling twice is harmless."""
        async with self._sessions.begin() as session:
            await session.execute(sql.DELETE_DRAFT, {"draft_id": draft_id, "member": member_id})

    async def finish_posts(self) -> None:
        """Take no new post, and wait for those under way (the caller bounds the wait)."""
        self._stopping = True
        if self._posting:
            await asyncio.wait(self._posting)

    async def purge_expired_drafts(self) -> int:
        """Delete previews whose time is up; returns how many."""
        async with self._sessions.begin() as session:
            purged = await session.execute(sql.DELETE_EXPIRED_DRAFTS, {"now": self._clock()})
            return len(purged.all())

    async def settle_abandoned_posts(self, older_than: timedelta) -> int:
        """Record as `unknown` the posts booked over `older_than` ago and still pending: their
        process died before X answered, or right after. Returns how many."""
        booked_before = self._clock() - older_than
        async with self._sessions.begin() as session:
            settled = await session.execute(sql.SETTLE_ABANDONED, {"booked_before": booked_before})
            return len(settled.all())

    async def post(self, draft_id: str, where: Where) -> PostedTweet:
        """Post the member's draft once, within the rules; record what happened."""
        with metrics.tweet_refusals_counted():
            return await self._post(draft_id, where)

    async def _post(self, draft_id: str, where: Where) -> PostedTweet:
        if self._stopping:
            raise errors.ShuttingDown()
        # The whole task is awaited on shutdown, so the member hears what X did.
        task = asyncio.current_task()
        if task is not None:
            self._posting.add(task)
            task.add_done_callback(self._posting.discard)
        draft, reservation = await self._reserve(draft_id, where)
        try:
            credentials = TokenPair(
                self._sealer.open(reservation.token_sealed),
                self._sealer.open(reservation.secret_sealed),
            )
        except BaseException:  # a key gone from TOKEN_ENCRYPTION_KEYS, say: X was never asked
            await self._record(reservation, None)
            raise
        try:
            media_ids = []
            if draft.image is not None and draft.image_type is not None:
                media_ids.append(
                    await self._twitter.upload_image(credentials, draft.image, draft.image_type)
                )
            tweet_id = await self._twitter.post_tweet(credentials, draft.text, media_ids)
        except errors.TwitterMaybePosted:
            await self._record(reservation, TweetStatus.UNKNOWN)
            raise
        except errors.TwitterUnavailable as error:
            await self._record(reservation, None)
            raise errors.TwitterUnavailable(error.detail, "Nothing was posted") from None
        except errors.TwitterAuthRevoked:
            await self._record(reservation, None)
            await self._mark_revoked(where.member_id, reservation.twitter_user_id)
            raise errors.LinkRevoked() from None
        except errors.TwitterError:  # X answered, and did not post it
            await self._record(reservation, None)
            raise
        except BaseException:  # cancelled or broken mid-request: X may have posted it
            await self._record(reservation, TweetStatus.UNKNOWN)
            raise
        await self._record(reservation, TweetStatus.POSTED, tweet_id)
        log.info("posted tweet %s for Discord user %s", tweet_id, where.member_id)
        return PostedTweet(tweet_id, reservation.screen_name)

    async def _reserve(self, draft_id: str, where: Where) -> tuple[Any, _Reservation]:
        """Claim the draft and book it in the ledger, within the rules, in one transaction."""
        async with self._sessions.begin() as session:
            # Locks the member's row (PostgreSQL; SQLite's transaction holds the write lock)
            # until commit, so two presses of Post in any processes are counted one after the
            # other. The server's policy row is locked next, always in that order.
            member = {"member": where.member_id}
            account = (await session.execute(sql.LOCK_POSTER, member)).first()
            now = self._clock()  # read under the lock, so it is later than every counted row
            claim = {"draft_id": draft_id, "member": where.member_id, "now": now}
            claimed = await session.execute(sql.CLAIM_DRAFT, claim)
            draft = next((d for d in claimed if d.id == draft_id and d.expires_at > now), None)
            if draft is None:
                raise errors.DraftGone()
            if account is None:
                raise errors.NotLinked()
            if account.revoked_at is not None:
                raise errors.LinkRevoked()
            where = Where(where.member_id, draft.guild_id, draft.channel_id, where.role_ids)
            lock_policy = sql.lock_policy(session.get_bind().dialect.name)
            policy = (
                await session.execute(lock_policy, {"guild": where.guild_id, "now": now})
            ).one()
            figures = (
                await session.execute(sql.SELECT_FIGURES, self._figures_of(where, now))
            ).one()
            self._check_rules(where, policy, figures, now)
            booking = {
                "discord_user_id": where.member_id,
                "guild_id": where.guild_id,
                "channel_id": where.channel_id,
                "twitter_user_id": account.twitter_user_id,
                "screen_name": account.screen_name,
                "status": TweetStatus.PENDING,
                "has_url": measure(draft.text).has_url,
                "has_media": draft.image is not None,
                "created_at": now,
            }
            row_id = (await session.execute(sql.BOOK_TWEET, booking)).scalar_one()
        reservation = _Reservation(
            row_id,
            account.screen_name,
            account.twitter_user_id,
            account.access_token_sealed,
            account.access_token_secret_sealed,
        )
        return draft, reservation

    def _figures_of(self, where: Where, now: datetime) -> dict[str, Any]:
        """The parameters of the rules' figures for this member in this server."""
        return {"member": where.member_id, "guild": where.guild_id, "day_ago": now - DAY}

    def _check_rules(
        self, where: Where, policy: Row[Any], figures: Row[Any], now: datetime
    ) -> None:
        """The server's policy (null columns: no policy set), the cooldown and the daily caps,
        counted from the ledger."""
        if policy.tweeting_enabled is False:
            raise errors.TweetingDisabled()
        if policy.required_role_id is not None and policy.required_role_id not in where.role_ids:
            raise errors.RoleRequired(policy.required_role_id)
        if figures.blocked:
            raise errors.MemberBlocked()
        cooldown, member_last = self._limits.cooldown, figures.member_last
        if cooldown and member_last is not None and _aware(member_last) + cooldown > now:
            raise errors.TweetCooldown(_aware(member_last) + cooldown)
        if figures.member_day >= self._limits.member_daily_cap:
            raise errors.DailyCapReached("member", self._limits.member_daily_cap)
        member_cap_here = policy.member_daily_cap
        if member_cap_here is not None and figures.member_guild_day >= member_cap_here:
            raise errors.DailyCapReached("member", member_cap_here)
        guild_cap = self._limits.guild_daily_cap if policy.daily_cap is None else policy.daily_cap
        if figures.guild_day >= guild_cap:
            raise errors.DailyCapReached("server", guild_cap)

    async def _record(
        self, reservation: _Reservation, status: TweetStatus | None, tweet_id: str | None = None
    ) -> None:
        """Record X's answer; a tweet X certainly did not post leaves no row behind.

        Shielded: a Post cancelled now (a shutdown) still records what X did.
        """
        await asyncio.shield(self._settle(reservation.tweet_row_id, status, tweet_id))
        if status is not None:
            metrics.TWEETS.labels(status.value, "").inc()

    async def _settle(self, row_id: int, status: TweetStatus | None, tweet_id: str | None) -> None:
        async with self._sessions.begin() as session:
            if status is None:
                await session.execute(sql.DROP_BOOKING, {"row_id": row_id})
                return
            posted_at = self._clock() if status == TweetStatus.POSTED else None
            await session.execute(
                sql.SETTLE_TWEET,
                {
                    "row_id": row_id,
                    "new_status": status,
                    "new_tweet_id": tweet_id,
                    "new_posted_at": posted_at,
                },
            )

    @property
    def delete_window(self) -> timedelta:
        """How long after posting its author may delete a tweet from here (zero: never)."""
        return self._limits.delete_window

    async def delete(self, tweet_id: str, member_id: int) -> bool:
        """Delete the member's own tweet from X, within the delete window, and record it (usage
        still counts it: X billed it). False when X no longer had it, deleted on x.com, say."""
        async with self._sessions() as session:
            row = (
                await session.execute(sql.SELECT_TWEET_TO_DELETE, {"x_tweet_id": tweet_id})
            ).first()
        if row is None or row.discord_user_id != member_id:
            raise errors.NotYourTweet()
        if row.deleted_at is not None:
            raise errors.TweetAlreadyDeleted()
        if _aware(row.posted_at) + self.delete_window <= self._clock():
            hours = int(self.delete_window.total_seconds() // 3600)
            raise errors.TweetNotDeletable(
                f"Tweets can be deleted from here for {hours} hours after posting; "
                "delete this one on X itself."
            )
        if row.linked_twitter_user_id != row.twitter_user_id:
            raise errors.TweetNotDeletable(
                f"This tweet was posted as @{row.screen_name}, which is no longer linked; "
                "delete it on X itself."
            )
        if row.revoked_at is not None:
            raise errors.LinkRevoked()
        credentials = TokenPair(
            self._sealer.open(row.access_token_sealed),
            self._sealer.open(row.access_token_secret_sealed),
        )
        try:
            existed = await self._twitter.delete_tweet(credentials, tweet_id)
        except errors.TwitterAuthRevoked:
            await self._mark_revoked(member_id, row.twitter_user_id)
            raise errors.LinkRevoked() from None
        except errors.TwitterRateLimited as error:
            raise errors.TwitterRateLimited(error.reset_at, "the tweet was not deleted") from None
        except errors.TwitterUnavailable as error:
            raise errors.TwitterUnavailable(
                error.detail, "The tweet may not be deleted yet"
            ) from None
        async with self._sessions.begin() as session:
            await session.execute(sql.MARK_DELETED, {"x_tweet_id": tweet_id, "now": self._clock()})
        log.info("deleted tweet %s for Discord user %s", tweet_id, member_id)
        return existed

    async def _mark_revoked(self, member_id: int, twitter_user_id: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                sql.MARK_REVOKED,
                {"member": member_id, "twitter_user": twitter_user_id, "now": self._clock()},
            )


def _aware(moment: datetime) -> datetime:
    """A scalar subquery's datetime skips the UTC type, and SQLite returns it naive."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
