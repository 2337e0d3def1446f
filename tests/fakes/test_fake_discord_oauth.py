"""The fake Discord's OAuth2 and Linked Roles are as strict as Discord, proven with our own
client (`core.discord_oauth`) and with raw requests where our client would never err."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from core import errors
from core.discord_oauth import (
    METADATA_RECORDS,
    DiscordOAuthClient,
    RoleConnectionValues,
    put_metadata_records,
)
from tests.fakes.discord import FakeDiscord, FakeUser

REDIRECT = "http://127.0.0.1:9/discord/callback"
NOW = datetime(2026, 12, 7, tzinfo=UTC)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        fake.oauth.redirect_uris.add(REDIRECT)
        fake.oauth.metadata = list(METADATA_RECORDS)
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def client(
    fake: FakeDiscord, http: aiohttp.ClientSession, *, secret: str | None = None
) -> DiscordOAuthClient:
    return DiscordOAuthClient(
        http,
        base_url=fake.base_url,
        client_id=fake.application_id,
        client_secret=secret or fake.oauth.client_secret,
        redirect_url=REDIRECT,
        timeout_seconds=5,
    )


async def code_for(fake: FakeDiscord, http: aiohttp.ClientSession, user: FakeUser, url: str) -> str:
    """Approve `url` (an authorize URL) as `user`; the code Discord sends back."""
    fake.oauth.approving_user = user
    async with http.get(url, allow_redirects=False) as answer:
        assert answer.status == 302, await answer.text()
        return parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]


async def test_a_code_gives_tokens_once_and_they_write_the_role_connection(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    alice = fake.add_user("alice")
    oauth = client(fake, http)
    code = await code_for(fake, http, alice, oauth.authorize_url("s"))
    grant = await oauth.exchange_code(code, NOW)
    assert grant.scopes == {"identify", "role_connections.write"}
    assert await oauth.current_user_id(grant.access_token) == alice.id
    await oauth.put_role_connection(grant.access_token, RoleConnectionValues("alice_x", NOW))
    assert fake.oauth.role_connections[alice.id]["platform_username"] == "@alice_x"
    with pytest.raises(errors.DiscordGrantRevoked):
        await oauth.exchange_code(code, NOW)  # codes are single-use


async def test_a_wrong_client_secret_or_redirect_is_refused(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    alice = fake.add_user("alice")
    code = await code_for(fake, http, alice, client(fake, http).authorize_url("s"))
    with pytest.raises(errors.DiscordGrantRevoked):
        await client(fake, http, secret="not-the-secret").exchange_code(code, NOW)
    elsewhere = client(fake, http).authorize_url("s").replace("9%2F", "10%2F")
    fake.oauth.approving_user = alice
    async with http.get(elsewhere, allow_redirects=False) as answer:
        assert answer.status == 400
        assert "redirect_uri" in await answer.text()


async def test_expired_access_tokens_are_401_and_refresh_tokens_rotate(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    alice = fake.add_user("alice")
    oauth = client(fake, http)
    grant = await oauth.exchange_code(
        await code_for(fake, http, alice, oauth.authorize_url("s")), NOW
    )
    fake.oauth.expire_access_tokens()
    with pytest.raises(errors.DiscordGrantRevoked):
        await oauth.current_user_id(grant.access_token)
    fresh = await oauth.refresh(grant.refresh_token, NOW)
    assert await oauth.current_user_id(fresh.access_token) == alice.id
    with pytest.raises(errors.DiscordGrantRevoked):
        await oauth.refresh(grant.refresh_token, NOW)  # the old one was rotated away


async def test_a_role_connection_needs_its_scope_and_registered_metadata(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    alice = fake.add_user("alice")
    oauth = client(fake, http)
    identify_only = oauth.authorize_url("s").replace("+role_connections.write", "")
    grant = await oauth.exchange_code(await code_for(fake, http, alice, identify_only), NOW)
    assert grant.scopes == {"identify"}
    with pytest.raises(errors.DiscordGrantRevoked):  # 403: missing the scope
        await oauth.put_role_connection(grant.access_token, RoleConnectionValues("a", NOW))

    full = await oauth.exchange_code(
        await code_for(fake, http, alice, oauth.authorize_url("s")), NOW
    )
    fake.oauth.metadata = []
    with pytest.raises(errors.DiscordUnavailable):  # 400: metadata keys not registered
        await oauth.put_role_connection(full.access_token, RoleConnectionValues("a", NOW))


async def test_metadata_takes_the_bot_token_and_at_most_five_records(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(errors.DiscordGrantRevoked):
        await put_metadata_records(
            http, base_url=fake.base_url, application_id=fake.application_id, bot_token="x"
        )
    records = await put_metadata_records(
        http, base_url=fake.base_url, application_id=fake.application_id, bot_token=fake.token
    )
    assert records == METADATA_RECORDS
    url = f"{fake.api_base}/applications/{fake.application_id}/role-connections/metadata"
    six = [dict(METADATA_RECORDS[0], key=f"k{i}") for i in range(6)]
    async with http.put(url, json=six, headers={"Authorization": f"Bot {fake.token}"}) as answer:
        assert answer.status == 400
