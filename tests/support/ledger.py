"""A known ledger of tweets, for the usage and lookup tests."""

from __future__ import annotations

from datetime import timedelta

from core.clock import utcnow
from core.models import Tweet, TweetStatus
from tweetlink.services import Services


async def seed_ledger(services: Services, guild_id: int, other_guild_id: int) -> None:
    """A known set of tweets: ages, links and servers chosen so every window differs."""
    now = utcnow()
    rows = [
        # (hours ago, has_url, guild, status)
        (1, False, guild_id, TweetStatus.POSTED),
        (2, True, guild_id, TweetStatus.POSTED),
        (3, False, guild_id, TweetStatus.UNKNOWN),  # may have been billed
        (3, False, guild_id, TweetStatus.PENDING),  # not yet posted: not counted
        (48, True, guild_id, TweetStatus.POSTED),
        (24 * 10, False, guild_id, TweetStatus.POSTED),
        (24 * 40, True, guild_id, TweetStatus.POSTED),  # outside every window
        (5, True, other_guild_id, TweetStatus.POSTED),
    ]
    async with services.sessions.begin() as session:
        for hours, has_url, guild, status in rows:
            session.add(
                Tweet(
                    discord_user_id=1,
                    guild_id=guild,
                    channel_id=1,
                    twitter_user_id="1",
                    screen_name="seeded",
                    status=status,
                    tweet_id=None,
                    has_url=has_url,
                    has_media=False,
                    created_at=now - timedelta(hours=hours),
                )
            )
