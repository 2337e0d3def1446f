"""The composition root: builds the long-lived objects once and closes them in reverse order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.audit import AuditLog
from core.config import Settings
from core.db import SessionFactory, create_engine, create_session_factory
from core.discord_oauth import DiscordOAuthClient
from core.links import LinkService
from core.policy import PolicyService
from core.role_connections import RoleConnectionService
from core.sealing import Sealer
from core.tweets import Limits, TweetService
from core.twitter import TwitterClient
from core.usage import Prices, UsageService

USER_AGENT = "tweetlink/0.1"


@dataclass(frozen=True)
class Services:
    """Everything the front doors need, made once per process."""

    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    http: aiohttp.ClientSession
    sealer: Sealer
    twitter: TwitterClient
    links: LinkService
    tweets: TweetService
    policy: PolicyService
    usage: UsageService
    audit: AuditLog
    role_connections: RoleConnectionService

    async def database_ok(self) -> bool:
        """Whether the database answers a trivial query."""
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError):
            return False
        return True


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """One engine, one HTTP session, one Twitter client and the services built on them."""
    engine = create_engine(settings.database_url)
    try:
        async with aiohttp.ClientSession(headers={"User-Agent": USER_AGENT}) as http:
            twitter = TwitterClient(
                http,
                consumer_key=settings.twitter_consumer_key,
                consumer_secret=settings.twitter_consumer_secret.get_secret_value(),
                api_base=settings.twitter_api_base,
                timeout_seconds=settings.twitter_timeout_seconds,
            )
            sessions = create_session_factory(engine)
            sealer = Sealer(settings.encryption_keys())
            links = LinkService(
                sessions,
                sealer,
                twitter,
                callback_url=settings.callback_url,
                intent_ttl=timedelta(seconds=settings.link_intent_ttl_seconds),
                code_ttl=timedelta(seconds=settings.confirmation_code_ttl_seconds),
                code_attempts=settings.confirmation_code_attempts,
                exchange_wait=timedelta(seconds=settings.twitter_timeout_seconds + 1),
            )
            tweets = TweetService(
                sessions,
                sealer,
                twitter,
                limits=Limits(
                    cooldown=timedelta(seconds=settings.tweet_cooldown_seconds),
                    member_daily_cap=settings.member_daily_tweet_cap,
                    guild_daily_cap=settings.server_daily_tweet_cap,
                    delete_window=timedelta(hours=settings.tweet_delete_window_hours),
                ),
            )
            usage = UsageService(
                sessions,
                Prices(settings.price_per_post_usd, settings.price_per_post_with_url_usd),
            )
            role_connections = RoleConnectionService(
                sessions,
                sealer,
                _discord_oauth(settings, http),
                sign_in_ttl=timedelta(seconds=settings.link_intent_ttl_seconds),
            )
            yield Services(
                settings=settings,
                engine=engine,
                sessions=sessions,
                http=http,
                sealer=sealer,
                twitter=twitter,
                links=links,
                tweets=tweets,
                policy=PolicyService(sessions),
                usage=usage,
                audit=AuditLog(sessions),
                role_connections=role_connections,
            )
    finally:
        await engine.dispose()


def _discord_oauth(settings: Settings, http: aiohttp.ClientSession) -> DiscordOAuthClient | None:
    """The Linked Roles client, when DISCORD_CLIENT_ID and DISCORD_CLIENT_SECRET are set."""
    if settings.discord_client_id is None or settings.discord_client_secret is None:
        return None
    return DiscordOAuthClient(
        http,
        base_url=settings.discord_base_url,
        client_id=settings.discord_client_id,
        client_secret=settings.discord_client_secret.get_secret_value(),
        redirect_url=settings.discord_redirect_url,
        timeout_seconds=settings.twitter_timeout_seconds,
    )
