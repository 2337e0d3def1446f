"""Shared fixtures: a migrated database (SQLite always, PostgreSQL when TEST_DATABASE_URL is set),
the fake X on loopback, and the services and web pages built the way production builds them."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from core.config import Settings
from core.sealing import Sealer
from tests.fakes.discord import FakeDiscord
from tests.fakes.twitter import FakeTwitter
from tests.support.credentials import CONSUMER_KEY, CONSUMER_SECRET, DISCORD_TOKEN
from tests.support.discord_bot import World, running_bot
from tests.support.member_browser import MemberBrowser
from tweetlink import migrations
from tweetlink.services import Services, open_services
from web.app import create_app, create_runner

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")

DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=pytest.mark.skipif(
            not POSTGRES_URL, reason="TEST_DATABASE_URL is not set (no PostgreSQL to test on)"
        ),
    ),
]


@pytest.fixture(params=DATABASES)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database at the newest migration; PostgreSQL's public schema is wiped first."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'tweetlink.db'}"
    else:
        assert POSTGRES_URL is not None
        url = POSTGRES_URL
        engine = create_async_engine(url)
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
        await engine.dispose()
    engine = create_async_engine(url)
    try:
        await migrations.upgrade(engine)
    finally:
        await engine.dispose()
    return url


@pytest.fixture
async def fake_twitter() -> AsyncIterator[FakeTwitter]:
    """The fake X, strict about signatures, on a free loopback port."""
    async with FakeTwitter(CONSUMER_KEY, CONSUMER_SECRET) as fake:
        yield fake


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """The fake Discord, with discord.py pointed at it until the test ends."""
    async with FakeDiscord() as fake:
        yield fake


@pytest.fixture
def web_socket() -> Iterator[socket.socket]:
    """A bound loopback socket, so the public URL is known before the settings are made."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


@pytest.fixture
def settings(database_url: str, fake_twitter: FakeTwitter, web_socket: socket.socket) -> Settings:
    """Settings pointing at the test database, the fake X and our own test web server."""
    port = web_socket.getsockname()[1]
    return Settings(
        _env_file=None,
        discord_token=DISCORD_TOKEN,
        twitter_consumer_key=CONSUMER_KEY,
        twitter_consumer_secret=CONSUMER_SECRET,
        public_url=f"http://127.0.0.1:{port}",
        web_port=port,
        database_url=database_url,
        token_encryption_keys=Sealer.generate_key(),
        twitter_api_base=fake_twitter.base_url,
        twitter_timeout_seconds=5,
        tweet_cooldown_seconds=0,  # the cooldown has its own tests, with their own limits
    )


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    """The production composition root, on test settings."""
    async with open_services(settings) as built:
        yield built


@pytest.fixture
async def web_server(services: Services, web_socket: socket.socket) -> AsyncIterator[str]:
    """Our pages served on the bound socket; yields the public URL."""
    app = create_app(
        services.links,
        twitter_api_base=services.settings.twitter_api_base,
        ping=services.database_ok,
        role_connections=services.role_connections,
        discord_base_url=services.settings.discord_base_url,
        secure_cookies=False,
    )
    runner = create_runner(app)
    await runner.setup()
    await web.SockSite(runner, web_socket).start()
    yield services.settings.public_url
    await runner.cleanup()


@pytest.fixture
async def world(
    services: Services, web_server: str, fake_discord: FakeDiscord
) -> AsyncIterator[World]:
    """A server with alice and bob, the running bot and a browser; all shut afterwards."""
    guild = fake_discord.add_guild("Community")
    alice, bob = fake_discord.add_user("alice"), fake_discord.add_user("bob")
    guild.add_member(alice)
    guild.add_member(bob)
    async with running_bot(services, fake_discord) as bot, aiohttp.ClientSession() as http:
        yield World(fake_discord, guild, alice, bob, bot, MemberBrowser(http), services)
