"""The tables. Tokens and secrets are only ever stored sealed (see `core.sealing`)."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, also on SQLite which stores them naive."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use core.clock.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints alike."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IntentStatus(enum.StrEnum):
    """Where a link flow stands."""

    CREATED = "created"  # link sent; nobody has pressed Continue yet (or they cancelled on X)
    AUTHORIZING = "authorizing"  # we hold a request token; the member is on X
    EXCHANGING = "exchanging"  # one callback is trading the verifier for the access token at X
    AUTHORIZED = "authorized"  # we hold the access token; waiting for the code in Discord
    LINKED = "linked"  # finished; kept until it expires so the page can show the outcome
    VOID = "void"  # too many wrong codes


class LinkIntent(Base):
    """One member's link flow in progress, from /link-twitter to the confirmation code."""

    __tablename__ = "link_intents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    discord_user_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    discord_name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    request_token: Mapped[str | None] = mapped_column(String(255), unique=True)
    request_token_secret_sealed: Mapped[str | None] = mapped_column(Text)
    verifier_hash: Mapped[str | None] = mapped_column(String(64))
    twitter_user_id: Mapped[str | None] = mapped_column(String(32))
    screen_name: Mapped[str | None] = mapped_column(String(64))
    access_level: Mapped[str | None] = mapped_column(String(32))
    access_token_sealed: Mapped[str | None] = mapped_column(Text)
    access_token_secret_sealed: Mapped[str | None] = mapped_column(Text)
    code_sealed: Mapped[str | None] = mapped_column(Text)
    code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    code_attempts: Mapped[int] = mapped_column(Integer, default=0)


class LinkedAccount(Base):
    """A Discord user's linked X account: one per Discord user, one Discord user per X account."""

    __tablename__ = "linked_accounts"

    discord_user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    twitter_user_id: Mapped[str] = mapped_column(String(32), unique=True)
    screen_name: Mapped[str] = mapped_column(String(64))
    access_token_sealed: Mapped[str] = mapped_column(Text)
    access_token_secret_sealed: Mapped[str] = mapped_column(Text)
    access_level: Mapped[str] = mapped_column(String(32))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TweetStatus(enum.StrEnum):
    """What we know about a tweet we tried to post."""

    PENDING = "pending"  # reserved against the caps; the POST is under way
    POSTED = "posted"  # X answered with the tweet's id
    UNKNOWN = "unknown"  # the POST timed out: X may or may not have posted it


class Tweet(Base):
    """A tweet posted (or being posted) through the bot: the audit trail and the caps' ledger."""

    __tablename__ = "tweets"
    __table_args__ = (
        Index("ix_tweets_member_created", "discord_user_id", "created_at"),
        Index("ix_tweets_guild_created", "guild_id", "created_at"),
        Index("ix_tweets_tweet_id", "tweet_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    discord_user_id: Mapped[int] = mapped_column(BigInteger)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    channel_id: Mapped[int] = mapped_column(BigInteger)
    twitter_user_id: Mapped[str] = mapped_column(String(32))
    screen_name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    tweet_id: Mapped[str | None] = mapped_column(String(32))
    has_url: Mapped[bool] = mapped_column(Boolean)
    has_media: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Its author deleted it from X; it still counts in usage, since X billed it.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TweetDraft(Base):
    """A previewed tweet waiting for its author to press Post (or Cancel)."""

    __tablename__ = "tweet_drafts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    discord_user_id: Mapped[int] = mapped_column(BigInteger)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    channel_id: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)
    image: Mapped[bytes | None] = mapped_column(LargeBinary)
    image_type: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class GuildPolicy(Base):
    """A server's rules for posting; a missing row or a null value means the default applies."""

    __tablename__ = "guild_policies"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tweeting_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    required_role_id: Mapped[int | None] = mapped_column(BigInteger)
    daily_cap: Mapped[int | None] = mapped_column(Integer)
    member_daily_cap: Mapped[int | None] = mapped_column(Integer)
    announce_channel_id: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class GuildBlock(Base):
    """A member a server's managers blocked from tweeting in that server."""

    __tablename__ = "guild_blocks"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    discord_user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    blocked_by: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """One admin action: who did what to whom, where, why and when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)  # None: the operator's command line
    action: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class DiscordSignIn(Base):
    """A Linked Roles sign-in waiting for Discord to send the browser back: single-use."""

    __tablename__ = "discord_sign_ins"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    browser_hash: Mapped[str] = mapped_column(String(64))  # the cookie that binds it
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class RoleConnection(Base):
    """A member's Discord OAuth2 grant for Linked Roles, and what we last told Discord.

    The `pushed_*` columns hold the link last written to their role connection (all null:
    none). Where they differ from the member's working link, a push is due
    (`core.role_connections`).
    """

    __tablename__ = "role_connections"

    discord_user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    access_token_sealed: Mapped[str] = mapped_column(Text)
    refresh_token_sealed: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    pushed_twitter_user_id: Mapped[str | None] = mapped_column(String(32))
    pushed_screen_name: Mapped[str | None] = mapped_column(String(64))
    pushed_linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
