"""Posting's SQL, one statement per purpose, built once and bound by name: building a statement
costs more CPU than running one. `core.tweets` runs them in sessions."""

from __future__ import annotations

import functools

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
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
_link, _draft, _tweet, _policy, _block = _LINKS.c, _DRAFTS.c, _TWEETS.c, _POLICIES.c, _BLOCKS.c

_MEMBER: BindParameter[int] = bindparam("member")
_GUILD: BindParameter[int] = bindparam("guild")
_POLICY_COLUMNS = (
    _policy.tweeting_enabled,
    _policy.required_role_id,
    _policy.daily_cap,
    _policy.member_daily_cap,
)


def _tweets_counted(*conditions: ColumnElement[bool]) -> ScalarSelect[int]:
    return select(func.count()).select_from(_TWEETS).where(*conditions).scalar_subquery()


# What the rules count from the ledger, for member :member in server :guild since :day_ago.
_RECENT, _BY_MEMBER = _tweet.created_at > bindparam("day_ago"), _tweet.discord_user_id == _MEMBER
_IN_GUILD = _tweet.guild_id == _GUILD
_FIGURES = (
    exists().where(_block.guild_id == _GUILD, _block.discord_user_id == _MEMBER).label("blocked"),
    _tweets_counted(_RECENT, _BY_MEMBER).label("member_day"),
    _tweets_counted(_RECENT, _BY_MEMBER, _IN_GUILD).label("member_guild_day"),
    _tweets_counted(_RECENT, _IN_GUILD).label("guild_day"),
    select(func.max(_tweet.created_at)).where(_BY_MEMBER).scalar_subquery().label("member_last"),
)

# prepare: the member's link, the server's policy (all null when it has none) and the figures,
# in one read without locks: Post checks again under them.
SELECT_PREVIEW_RULES = (
    select(_link.screen_name, _link.revoked_at, *_POLICY_COLUMNS, *_FIGURES)
    .select_from(_LINKS.outerjoin(_POLICIES, _policy.guild_id == _GUILD))
    .where(_link.discord_user_id == _MEMBER)
)
INSERT_DRAFT = insert(_DRAFTS)
DELETE_EXPIRED_DRAFTS = (  # housekeeping
    delete(_DRAFTS).where(_draft.expires_at <= bindparam("now")).returning(_draft.id)
)
DELETE_DRAFT = delete(_DRAFTS).where(  # Cancel
    _draft.id == bindparam("draft_id"), _draft.discord_user_id == _MEMBER
)

# post, in one transaction and in this order (member before server, so two cannot deadlock):
# lock the member's link; claim the draft (sweeping expired ones); lock the server's policy
# row, made with defaults when missing; count the figures; book the tweet as pending.
LOCK_POSTER = (
    select(
        _link.twitter_user_id,
        _link.screen_name,
        _link.access_token_sealed,
        _link.access_token_secret_sealed,
        _link.revoked_at,
    )
    .where(_link.discord_user_id == _MEMBER)
    .with_for_update()
)
CLAIM_DRAFT = (
    delete(_DRAFTS)
    .where(
        or_(
            and_(_draft.id == bindparam("draft_id"), _draft.discord_user_id == _MEMBER),
            _draft.expires_at <= bindparam("now"),
        )
    )
    .returning(
        _draft.id,
        _draft.guild_id,
        _draft.channel_id,
        _draft.text,
        _draft.image,
        _draft.image_type,
        _draft.expires_at,
    )
)
SELECT_FIGURES = select(*_FIGURES)
BOOK_TWEET = insert(_TWEETS).returning(_tweet.id)

# X's answer: the tweet's outcome, or no row at all when X certainly did not post it.
SETTLE_TWEET = (
    update(_TWEETS)
    .where(_tweet.id == bindparam("row_id"))
    .values(
        status=bindparam("new_status"),
        tweet_id=bindparam("new_tweet_id"),
        posted_at=bindparam("new_posted_at"),
    )
)
DROP_BOOKING = delete(_TWEETS).where(_tweet.id == bindparam("row_id"))
# Housekeeping: a booking still pending long after any POST to X could have ended belongs to a
# process that died mid-post; X may or may not have posted it.
SETTLE_ABANDONED = (
    update(_TWEETS)
    .where(_tweet.status == "pending", _tweet.created_at < bindparam("booked_before"))
    .values(status="unknown")
    .returning(_tweet.id)
)
MARK_REVOKED = (  # X answered 401 to a Post
    update(_LINKS)
    .where(_link.discord_user_id == _MEMBER, _link.twitter_user_id == bindparam("twitter_user"))
    .values(revoked_at=bindparam("now"))
)


@functools.cache
def lock_policy(dialect: str) -> ReturningInsert[tuple[object, ...]]:
    """The server's policy row, inserted with defaults when missing, locked until commit."""
    upsert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_POLICIES)
    return (
        upsert.values(guild_id=_GUILD, tweeting_enabled=True, updated_at=bindparam("now"))
        .on_conflict_do_update(
            index_elements=[_policy.guild_id], set_={"guild_id": upsert.excluded.guild_id}
        )
        .returning(*_POLICY_COLUMNS)
    )


# Delete from X: the posted tweet, and its author's link as it is now (null when unlinked).
SELECT_TWEET_TO_DELETE = (
    select(
        _tweet.discord_user_id,
        _tweet.twitter_user_id,
        _tweet.screen_name,
        _tweet.posted_at,
        _tweet.deleted_at,
        _link.twitter_user_id.label("linked_twitter_user_id"),
        _link.access_token_sealed,
        _link.access_token_secret_sealed,
        _link.revoked_at,
    )
    .select_from(_TWEETS.outerjoin(_LINKS, _link.discord_user_id == _tweet.discord_user_id))
    .where(_tweet.tweet_id == bindparam("x_tweet_id"), _tweet.status == "posted")
)
MARK_DELETED = (
    update(_TWEETS)
    .where(_tweet.tweet_id == bindparam("x_tweet_id"), _tweet.deleted_at.is_(None))
    .values(deleted_at=bindparam("now"))
)
