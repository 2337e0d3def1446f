"""How much the bot posted, and what X charges for it (estimated from the ledger)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select

from core.clock import Clock, utcnow
from core.db import SessionFactory
from core.models import Tweet, TweetStatus

WINDOWS = (1, 7, 30)


@dataclass(frozen=True)
class Prices:
    """X's pay-per-use prices, in US dollars."""

    per_post: float
    per_post_with_url: float


@dataclass(frozen=True)
class Usage:
    """Tweets in one window and their estimated cost."""

    days: int
    posts: int
    posts_with_url: int
    cost_usd: float


# A post whose fate is unknown (timed out) may have been billed: count it, to err on the safe side.
_BILLED = (TweetStatus.POSTED, TweetStatus.UNKNOWN)


class UsageService:
    """Usage figures from the tweets ledger."""

    def __init__(self, sessions: SessionFactory, prices: Prices, clock: Clock = utcnow) -> None:
        self._sessions = sessions
        self._prices = prices
        self._clock = clock

    async def usage(
        self, *, guild_id: int | None = None, now: datetime | None = None
    ) -> list[Usage]:
        """Posts over the last 1, 7 and 30 days, in one server or everywhere, with their cost."""
        now = now or self._clock()
        with_url = func.sum(case((Tweet.has_url, 1), else_=0))
        results = []
        async with self._sessions() as session:
            for days in WINDOWS:
                query = select(func.count(), with_url).where(
                    Tweet.status.in_(_BILLED), Tweet.created_at > now - timedelta(days=days)
                )
                if guild_id is not None:
                    query = query.where(Tweet.guild_id == guild_id)
                posts, url_posts = (await session.execute(query)).one()
                url_posts = int(url_posts or 0)
                cost = (posts - url_posts) * self._prices.per_post
                cost += url_posts * self._prices.per_post_with_url
                results.append(Usage(days, posts, url_posts, round(cost, 4)))
        return results

    async def member_posts(
        self, member_id: int, *, guild_id: int | None = None, now: datetime | None = None
    ) -> tuple[int, int]:
        """A member's posts in the last 24 hours and 30 days (in one server, or everywhere)."""
        now = now or self._clock()
        counts = []
        async with self._sessions() as session:
            for days in (1, 30):
                query = select(func.count()).where(
                    Tweet.discord_user_id == member_id,
                    Tweet.status.in_(_BILLED),
                    Tweet.created_at > now - timedelta(days=days),
                )
                if guild_id is not None:
                    query = query.where(Tweet.guild_id == guild_id)
                counts.append(await session.scalar(query) or 0)
        return counts[0], counts[1]

    async def recent_tweets(
        self, member_id: int, *, guild_id: int | None = None, limit: int = 5
    ) -> list[Tweet]:
        """A member's latest tweets that X has or may have (in one server, or everywhere)."""
        query = (
            select(Tweet)
            .where(Tweet.discord_user_id == member_id, Tweet.status.in_(_BILLED))
            .order_by(Tweet.created_at.desc(), Tweet.id.desc())
            .limit(limit)
        )
        if guild_id is not None:
            query = query.where(Tweet.guild_id == guild_id)
        async with self._sessions() as session:
            return list(await session.scalars(query))
