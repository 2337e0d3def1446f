"""Posting's SQL, built once, each statement serving a whole batch of requests.

`core.tweets` runs them on connections with the parameters bound by name; a list (`members`,
`guilds`, `claims`, `row_ids`) is expanded into the statement at each execution.
"""

from __future__ import annotations

import functools

from sqlalchemy import (
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import ReturningInsert
from sqlalchemy.sql.elements import BindParameter

from core.models import Base, GuildBlock, GuildPolicy, LinkedAccount, Tweet, TweetDraft


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


_LINKS, _DRAFTS, _TWEETS = _table(LinkedAccount), _table(TweetDraft), _table(Tweet)
_POLICIES, _BLOCKS = _table(GuildPolicy), _table(GuildBlock)
_link, _draft, _tweet = _LINKS.c, _DRAFTS.c, _TWEETS.c
_policy, _block = _POLICIES.c, _BLOCKS.c

_MEMBERS: BindParameter[int] = bindparam("members", expanding=True)
_GUILDS: BindParameter[int] = bindparam("guilds", expanding=True)

# A round, in order: lock the members' link rows; record X's outcomes; claim the drafts pressed
# (sweeping expired ones); lock the servers' policy rows (made with defaults where missing); read
# what the rules count; store the new drafts and book the tweets that passed.
_ACCOUNT_COLUMNS = (
    _link.discord_user_id,
    _link.twitter_user_id,
    _link.screen_name,
    _link.access_token_sealed,
    _link.access_token_secret_sealed,
    _link.revoked_at,
)
# In id order, so that two rounds sharing members cannot deadlock. SQLite has no FOR UPDATE (and
# needs none: the round holds its one write lock).
LOCK_ACCOUNTS = (
    select(*_ACCOUNT_COLUMNS)
    .where(_link.discord_user_id.in_(_MEMBERS))
    .order_by(_link.discord_user_id)
    .with_for_update()
)
_POLICY_COLUMNS = (
    _policy.guild_id,
    _policy.tweeting_enabled,
    _policy.required_role_id,
    _policy.daily_cap,
    _policy.member_daily_cap,
)
INSERT_DRAFTS = insert(_DRAFTS)
DELETE_DRAFT = delete(_DRAFTS).where(  # Cancel
    _draft.id == bindparam("draft_id"), _draft.discord_user_id == bindparam("member")
)

# What the rules count, for every member and server of a batch, in one statement: per member and
# server, the member's tweets since `since` (the longer of a day and the cooldown) that are of the
# last day, and the newest; per server, its tweets of the last day; the blocks among them.
MEMBER_FIGURES, GUILD_FIGURES, BLOCK = 0, 1, 2
SELECT_FIGURES = union_all(
    select(
        literal(MEMBER_FIGURES),
        _tweet.discord_user_id,
        _tweet.guild_id,
        func.count().filter(_tweet.created_at > bindparam("day_ago")),
        func.max(_tweet.created_at),
    )
    .where(_tweet.discord_user_id.in_(_MEMBERS), _tweet.created_at > bindparam("since"))
    .group_by(_tweet.discord_user_id, _tweet.guild_id),
    select(literal(GUILD_FIGURES), null(), _tweet.guild_id, func.count(), null())
    .where(_tweet.guild_id.in_(_GUILDS), _tweet.created_at > bindparam("day_ago"))
    .group_by(_tweet.guild_id),
    select(literal(BLOCK), _block.discord_user_id, _block.guild_id, null(), null()).where(
        _block.guild_id.in_(_GUILDS), _block.discord_user_id.in_(_MEMBERS)
    ),
)

CLAIM_DRAFTS = (
    delete(_DRAFTS)
    .where(
        or_(
            tuple_(_draft.id, _draft.discord_user_id).in_(bindparam("claims", expanding=True)),
            _draft.expires_at <= bindparam("now"),
        )
    )
    .returning(
        _draft.id,
        _draft.discord_user_id,
        _draft.guild_id,
        _draft.channel_id,
        _draft.text,
        _draft.image,
        _draft.image_type,
        _draft.expires_at,
    )
)
# Each new row comes back with the columns that tell bookings apart, rather than in the order
# given: SQLite cannot promise that order, and SQLAlchemy would then insert one row at a time.
# Rows alike in all of these are interchangeable.
BOOKING_KEY = ("discord_user_id", "guild_id", "channel_id", "has_url", "has_media")
INSERT_TWEETS = insert(_TWEETS).returning(*(_tweet[name] for name in BOOKING_KEY), _tweet.id)

# The outcome of each booked tweet; one X certainly did not post leaves no row.
SETTLE_TWEET = (
    update(_TWEETS)
    .where(_tweet.id == bindparam("row_id"))
    .values(
        status=bindparam("new_status"),
        tweet_id=bindparam("new_tweet_id"),
        posted_at=bindparam("new_posted_at"),
    )
)
DELETE_TWEETS = delete(_TWEETS).where(_tweet.id.in_(bindparam("row_ids", expanding=True)))
MARK_REVOKED = (  # X answered 401 to a Post
    update(_LINKS)
    .where(
        _link.discord_user_id == bindparam("member"),
        _link.twitter_user_id == bindparam("twitter_user"),
    )
    .values(revoked_at=bindparam("now"))
)


@functools.cache
def lock_policies(dialect: str) -> ReturningInsert[tuple[object, ...]]:
    """The servers' policy rows, inserted with defaults where missing, locked until commit."""
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_POLICIES)
    return statement.on_conflict_do_update(
        index_elements=[_policy.guild_id], set_={"guild_id": statement.excluded.guild_id}
    ).returning(*_POLICY_COLUMNS)
