"""Posting on a member's behalf: validate, preview, reserve against the caps, post, record.

A preview is a draft row, so the Post button works from any bot process and after a restart.
Pressing Post claims the draft (one press wins), then reserves a ledger row in `tweets` inside a
transaction that locks the member's link row and the server's policy row: the cooldown and the
daily caps are counted from that ledger, so they hold across restarts and processes alike.

Requests that arrive together share one transaction, a round (`core.batching`): X's outcomes
are recorded first, then new previews and Post presses are checked in the order they came, each
booked tweet counting against the next.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from core import errors
from core import tweet_statements as sql
from core.batching import Batcher
from core.db import SessionFactory, engine_of, for_single_statements
from core.models import TweetStatus, utcnow
from core.sealing import Sealer
from core.tweet_text import MeasuredText, check_image, check_text, measure
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
        return f"https://x.com/{self.screen_name}/status/{self.tweet_id}"


@dataclass(frozen=True)
class _DraftRequest:
    where: Where
    text: str
    measured: MeasuredText
    image: bytes | None = field(repr=False)
    image_type: str | None


@dataclass(frozen=True)
class _PostRequest:
    draft_id: str
    where: Where


@dataclass(frozen=True)
class _Reservation:
    """A claimed draft, booked in the ledger as pending, with the credentials to post it."""

    tweet_row_id: int
    text: str
    image: bytes | None = field(repr=False)
    image_type: str | None
    screen_name: str
    twitter_user_id: str
    token_sealed: str = field(repr=False)
    secret_sealed: str = field(repr=False)


@dataclass(frozen=True)
class _Outcome:
    tweet_row_id: int
    status: TweetStatus | None  # None: X certainly did not post it
    tweet_id: str | None = None


@dataclass
class _Figures:
    """What the rules count for the members and servers of one batch, as its transaction sees it.

    Booking a tweet adds it here too, so the requests of a batch are counted one after the other.
    """

    blocked: set[tuple[int, int]]  # (guild, member)
    member_day: Counter[int]
    member_guild_day: Counter[tuple[int, int]]
    guild_day: Counter[int]
    member_last: dict[int, datetime]

    def book(self, where: Where, now: datetime) -> None:
        self.member_day[where.member_id] += 1
        self.member_guild_day[where.member_id, where.guild_id] += 1
        self.guild_day[where.guild_id] += 1
        self.member_last[where.member_id] = now


@dataclass(frozen=True)
class _Ledger:
    """What one round read, under its locks."""

    now: datetime
    accounts: dict[int, Row[Any]]
    claimed: dict[str, Any]  # draft id -> the claimed draft's row
    policies: dict[int, Row[Any]]
    figures: _Figures


@dataclass(frozen=True)
class _Booking:
    """A Post that passed the rules: its ledger row to insert, then its reservation."""

    answer_index: int
    where: Where
    draft: Any  # the claimed draft's row
    account: Row[Any]
    now: datetime

    def row(self) -> dict[str, Any]:
        draft = self.draft
        return {
            "discord_user_id": self.where.member_id,
            "guild_id": self.where.guild_id,
            "channel_id": self.where.channel_id,
            "twitter_user_id": self.account.twitter_user_id,
            "screen_name": self.account.screen_name,
            "status": TweetStatus.PENDING,
            "has_url": measure(draft.text).has_url,
            "has_media": draft.image is not None,
            "created_at": self.now,
        }

    def reservation(self, row_id: int) -> _Reservation:
        return _Reservation(
            row_id,
            self.draft.text,
            self.draft.image,
            self.draft.image_type,
            self.account.screen_name,
            self.account.twitter_user_id,
            self.account.access_token_sealed,
            self.account.access_token_secret_sealed,
        )


_Request = _DraftRequest | _PostRequest | _Outcome
_Answer = Draft | _Reservation | None


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
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine_of(sessions)
        self._single_statements = for_single_statements(self._engine)
        self._dialect = self._engine.dialect.name
        self._sealer = sealer
        self._twitter = twitter
        self._limits = limits
        self._draft_ttl = draft_ttl
        self._clock = clock
        self._ledger = Batcher[_Request, _Answer](self._run_round, undo=_undo)
        self._recording: set[asyncio.Future[_Answer]] = set()

    async def prepare(self, where: Where, text: str, image: Image | None = None) -> Draft:
        """Check everything that can be checked before X, and keep the tweet as a draft."""
        measured = check_text(text, has_image=image is not None)
        image_type = check_image(image.data) if image is not None else None
        data = image.data if image is not None else None
        draft = await self._ledger.submit(_DraftRequest(where, text, measured, data, image_type))
        assert isinstance(draft, Draft)
        return draft

    async def cancel(self, draft_id: str, member_id: int) -> None:
        """Drop a draft; cancelling twice is harmless."""
        async with self._single_statements.begin() as connection:
            await connection.execute(sql.DELETE_DRAFT, {"draft_id": draft_id, "member": member_id})

    async def post(self, draft_id: str, where: Where) -> PostedTweet:
        """Post the member's draft once, within the rules; record what happened."""
        reservation = await self._ledger.submit(_PostRequest(draft_id, where))
        assert isinstance(reservation, _Reservation)
        row_id = reservation.tweet_row_id
        try:
            credentials = TokenPair(
                self._sealer.open(reservation.token_sealed),
                self._sealer.open(reservation.secret_sealed),
            )
        except BaseException:  # a key gone from TOKEN_ENCRYPTION_KEYS, say: X was never asked
            await self._ledger.submit(_Outcome(row_id, None))
            raise
        try:
            media_ids = []
            if reservation.image is not None and reservation.image_type is not None:
                media_ids.append(
                    await self._twitter.upload_image(
                        credentials, reservation.image, reservation.image_type
                    )
                )
            tweet_id = await self._twitter.post_tweet(credentials, reservation.text, media_ids)
        except errors.TwitterMaybePosted:
            await self._ledger.submit(_Outcome(row_id, TweetStatus.UNKNOWN))
            raise
        except errors.TwitterUnavailable as error:
            await self._ledger.submit(_Outcome(row_id, None))
            raise errors.TwitterUnavailable(error.detail, "Nothing was posted") from None
        except errors.TwitterAuthRevoked:
            await self._ledger.submit(_Outcome(row_id, None))
            await self._mark_revoked(where.member_id, reservation.twitter_user_id)
            raise errors.LinkRevoked() from None
        except errors.TwitterError:  # X answered, and did not post it
            await self._ledger.submit(_Outcome(row_id, None))
            raise
        except BaseException:  # cancelled or broken mid-request: X may have posted it
            await self._ledger.submit(_Outcome(row_id, TweetStatus.UNKNOWN))
            raise
        # The member hears at once; the ledger row, booked as pending and counted as such, gets
        # the tweet's id in a coming round. A refusal above is awaited instead: it gives its
        # booking back, and the member may press again right away.
        self._record_later(_Outcome(row_id, TweetStatus.POSTED, tweet_id))
        log.info("posted tweet %s for Discord user %s", tweet_id, where.member_id)
        return PostedTweet(tweet_id, reservation.screen_name)

    async def settle(self) -> None:
        """Wait until every posted tweet is recorded in the ledger (before shutting down)."""
        while self._recording:
            await asyncio.gather(*self._recording, return_exceptions=True)

    def _record_later(self, outcome: _Outcome) -> None:
        recorded = self._ledger.submit(outcome)
        self._recording.add(recorded)
        recorded.add_done_callback(self._recorded)

    def _recorded(self, recorded: asyncio.Future[_Answer]) -> None:
        self._recording.discard(recorded)
        if recorded.cancelled() or recorded.exception() is not None:
            # The row stays pending: it still counts against the caps, as a tweet X may have.
            log.error(
                "could not record a posted tweet in the ledger",
                exc_info=None if recorded.cancelled() else recorded.exception(),
            )

    async def _run_round(self, requests: Sequence[_Request]) -> list[_Answer | Exception]:
        """One transaction for every request waiting: outcomes, then drafts and Posts in order.

        Outcomes go first, since a tweet X refused no longer counts. Then each request is
        checked against the rules in the order it came, each booked tweet counting for the next.
        """
        async with self._engine.begin() as connection:
            ledger = await self._read(connection, requests)
            if ledger is None:  # outcomes only
                return [None] * len(requests)
            answers, new_drafts, bookings = self._decide(requests, ledger)
            if new_drafts:
                await connection.execute(sql.INSERT_DRAFTS, new_drafts)
            if bookings:
                await self._book(connection, bookings, answers)
        return answers

    async def _read(
        self, connection: AsyncConnection, requests: Sequence[_Request]
    ) -> _Ledger | None:
        """Lock, record the outcomes, claim the drafts pressed, and read what the rules count."""
        outcomes = [request for request in requests if isinstance(request, _Outcome)]
        posts = [request for request in requests if isinstance(request, _PostRequest)]
        drafts = [request for request in requests if isinstance(request, _DraftRequest)]
        # The members' rows (PostgreSQL) or the database (SQLite) are locked until commit, so
        # the rounds of every process are counted one after the other.
        if self._dialect == "sqlite":
            await connection.exec_driver_sql("BEGIN IMMEDIATE")
        members = sorted(
            {post.where.member_id for post in posts} | {draft.where.member_id for draft in drafts}
        )
        accounts = (
            await _by_first_column(connection, sql.LOCK_ACCOUNTS, {"members": members})
            if members
            else {}
        )
        now = self._clock()  # read under the lock, so it is later than every counted row
        await self._record(connection, outcomes, now)
        if not members:
            return None
        claimed = await self._claim(connection, posts, now)
        guilds = sorted(
            {draft.guild_id for draft in claimed.values()}
            | {request.where.guild_id for request in drafts}
        )
        policies = await _by_first_column(
            connection,
            sql.lock_policies(self._dialect),
            [{"guild_id": guild, "tweeting_enabled": True, "updated_at": now} for guild in guilds],
        )
        figures = await self._figures(connection, members, guilds, now)
        return _Ledger(now, accounts, claimed, policies, figures)

    def _decide(
        self, requests: Sequence[_Request], ledger: _Ledger
    ) -> tuple[list[_Answer | Exception], list[dict[str, Any]], list[_Booking]]:
        """Each request's answer in order, with the drafts to store and the tweets to book."""
        answers: list[_Answer | Exception] = []
        new_drafts: list[dict[str, Any]] = []
        bookings: list[_Booking] = []
        for request in requests:
            if isinstance(request, _Outcome):
                answers.append(None)
                continue
            try:
                account = _healthy(ledger.accounts.get(request.where.member_id))
                if isinstance(request, _DraftRequest):
                    where = request.where
                    self._check_rules(where, ledger)
                    answers.append(self._draft(request, account, ledger.now, new_drafts))
                    continue
                draft = ledger.claimed.pop(request.draft_id, None)  # a second press: gone
                if draft is None:
                    raise errors.DraftGone()
                where = Where(
                    request.where.member_id,
                    draft.guild_id,
                    draft.channel_id,
                    request.where.role_ids,
                )
                self._check_rules(where, ledger)
            except (errors.TweetError, errors.LinkError) as refused:
                answers.append(refused)
                continue
            ledger.figures.book(where, ledger.now)
            bookings.append(_Booking(len(answers), where, draft, account, ledger.now))
            answers.append(None)  # the reservation, once the ledger has given its row id
        return answers, new_drafts, bookings

    async def _book(
        self,
        connection: AsyncConnection,
        bookings: Sequence[_Booking],
        answers: list[_Answer | Exception],
    ) -> None:
        """Insert the pending ledger rows and put each reservation in its request's place."""
        rows = [booking.row() for booking in bookings]
        row_ids: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        for inserted in await connection.execute(sql.INSERT_TWEETS, rows):
            row_ids[tuple(inserted[:-1])].append(inserted.id)
        for booking, row in zip(bookings, rows, strict=True):
            same = tuple(row[name] for name in sql.BOOKING_KEY)
            answers[booking.answer_index] = booking.reservation(row_ids[same].pop())

    async def _record(
        self, connection: AsyncConnection, outcomes: Sequence[_Outcome], now: datetime
    ) -> None:
        """Record the outcomes X gave; a tweet X certainly did not post leaves no row behind."""
        settled = [
            {
                "row_id": outcome.tweet_row_id,
                "new_status": outcome.status,
                "new_tweet_id": outcome.tweet_id,
                "new_posted_at": now if outcome.status == TweetStatus.POSTED else None,
            }
            for outcome in outcomes
            if outcome.status is not None
        ]
        dropped = [outcome.tweet_row_id for outcome in outcomes if outcome.status is None]
        if settled:
            await connection.execute(sql.SETTLE_TWEET, settled)
        if dropped:
            await connection.execute(sql.DELETE_TWEETS, {"row_ids": dropped})

    async def _claim(
        self, connection: AsyncConnection, posts: Sequence[_PostRequest], now: datetime
    ) -> dict[str, Any]:
        """The drafts pressed, taken out by their authors; expired previews are swept too."""
        claims = [(request.draft_id, request.where.member_id) for request in posts]
        if not claims:
            return {}
        return {
            draft.id: draft
            for draft in await connection.execute(sql.CLAIM_DRAFTS, {"claims": claims, "now": now})
            if draft.expires_at > now  # the others were swept
        }

    def _draft(
        self,
        request: _DraftRequest,
        account: Row[Any],
        now: datetime,
        new_drafts: list[dict[str, Any]],
    ) -> Draft:
        draft = Draft(
            id=secrets.token_urlsafe(16),
            text=request.text,
            weighted_length=request.measured.weighted_length,
            has_image=request.image is not None,
            screen_name=account.screen_name,
            expires_at=now + self._draft_ttl,
        )
        where = request.where
        new_drafts.append(
            {
                "id": draft.id,
                "discord_user_id": where.member_id,
                "guild_id": where.guild_id,
                "channel_id": where.channel_id,
                "text": request.text,
                "image": request.image,
                "image_type": request.image_type,
                "created_at": now,
                "expires_at": draft.expires_at,
            }
        )
        return draft

    async def _figures(
        self, connection: AsyncConnection, members: list[int], guilds: list[int], now: datetime
    ) -> _Figures:
        day_ago = now - DAY
        figures = _Figures(set(), Counter(), Counter(), Counter(), {})
        parameters = {
            "members": members,
            "guilds": guilds,
            "day_ago": day_ago,
            "since": now - max(DAY, self._limits.cooldown),
        }
        for kind, member, guild, count, last in await connection.execute(
            sql.SELECT_FIGURES, parameters
        ):
            if kind == sql.MEMBER_FIGURES:
                figures.member_day[member] += count
                figures.member_guild_day[member, guild] = count
                last = _aware(last)
                if member not in figures.member_last or figures.member_last[member] < last:
                    figures.member_last[member] = last
            elif kind == sql.GUILD_FIGURES:
                figures.guild_day[guild] = count
            else:
                figures.blocked.add((guild, member))
        return figures

    def _check_rules(self, where: Where, ledger: _Ledger) -> None:
        """The server's policy, the cooldown and the daily caps, counted from the ledger."""
        policy, figures, now = ledger.policies[where.guild_id], ledger.figures, ledger.now
        if not policy.tweeting_enabled:
            raise errors.TweetingDisabled()
        if policy.required_role_id is not None and policy.required_role_id not in where.role_ids:
            raise errors.RoleRequired(policy.required_role_id)
        if (where.guild_id, where.member_id) in figures.blocked:
            raise errors.MemberBlocked()
        cooldown = self._limits.cooldown
        member_last = figures.member_last.get(where.member_id)
        if cooldown and member_last is not None and member_last + cooldown > now:
            raise errors.TweetCooldown(member_last + cooldown)
        if figures.member_day[where.member_id] >= self._limits.member_daily_cap:
            raise errors.DailyCapReached("member", self._limits.member_daily_cap)
        member_cap_here = policy.member_daily_cap
        if (
            member_cap_here is not None
            and figures.member_guild_day[where.member_id, where.guild_id] >= member_cap_here
        ):
            raise errors.DailyCapReached("member", member_cap_here)
        guild_cap = (
            policy.daily_cap if policy.daily_cap is not None else self._limits.guild_daily_cap
        )
        if figures.guild_day[where.guild_id] >= guild_cap:
            raise errors.DailyCapReached("server", guild_cap)

    async def _mark_revoked(self, member_id: int, twitter_user_id: str) -> None:
        async with self._single_statements.begin() as connection:
            await connection.execute(
                sql.MARK_REVOKED,
                {"member": member_id, "twitter_user": twitter_user_id, "now": self._clock()},
            )


def _undo(answer: _Answer) -> _Request | None:
    """A booking whose Post press was cancelled before it heard back is given back."""
    return _Outcome(answer.tweet_row_id, None) if isinstance(answer, _Reservation) else None


async def _by_first_column(
    connection: AsyncConnection, statement: Any, parameters: Any
) -> dict[Any, Row[Any]]:
    if not parameters:
        return {}
    return {row[0]: row for row in await connection.execute(statement, parameters)}


def _healthy(account: Row[Any] | None) -> Row[Any]:
    """The member's link, or why they cannot post with it."""
    if account is None:
        raise errors.NotLinked()
    if account.revoked_at is not None:
        raise errors.LinkRevoked()
    return account


def _aware(moment: datetime) -> datetime:
    """SQLite may hand an aggregate's datetime back naive; it is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
