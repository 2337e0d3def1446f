"""Linked Roles end to end: our pages, the fake Discord's OAuth2 and role connections, the real
bot for linking and unlinking, and the sweep that retries what Discord failed."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import expect
from sqlalchemy import select, update

from core.clock import utcnow
from core.config import Settings
from core.discord_oauth import METADATA_RECORDS
from core.key_rotation import reseal_everything
from core.models import LinkedAccount, RoleConnection
from core.role_connections import RoleConnectionService
from core.sealing import Sealer
from tests.fakes.discord import FakeDiscord, FakeUser
from tests.support.chromium import chromium_page, needs_chromium, starts_with
from tests.support.discord_bot import (
    World,
    enter_code,
    link,
    link_button_url,
    relink,
    run_link_twitter,
    unlink_with_buttons,
)
from tests.support.linked_roles import with_linked_roles
from tests.support.processes import environment_of, tweetlink
from tweetlink.services import Services
from web.app import create_app

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ROLE_CONNECTION_ROUTE = "/users/@me/applications/{app}/role-connection"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def settings(settings: Settings, fake_discord: FakeDiscord) -> Settings:
    """The test settings with Linked Roles set up against the fake Discord."""
    return with_linked_roles(settings, fake_discord)


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    """A browser with its own cookies (kept for 127.0.0.1 too, as browsers do)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield http


class SignIn:
    """One Linked Roles sign-in, step by step, as a browser makes it."""

    def __init__(self, http: aiohttp.ClientSession, public_url: str) -> None:
        self.http = http
        self.public_url = public_url

    async def to_discord(self) -> str:
        """Open /linked-role and press its button; returns Discord's authorize URL."""
        async with self.http.get(f"{self.public_url}/linked-role") as page:
            assert page.status == 200
            found = _CSRF.search(await page.text())
        assert found is not None
        async with self.http.post(
            f"{self.public_url}/linked-role",
            data={"csrf_token": found.group(1)},
            allow_redirects=False,
        ) as pressed:
            assert pressed.status == 303, await pressed.text()
            return pressed.headers["Location"]

    async def approve(self, authorize_url: str) -> str:
        """Discord approves; returns the callback URL it sends the browser back to."""
        async with self.http.get(authorize_url, allow_redirects=False) as approved:
            assert approved.status == 302, await approved.text()
            return approved.headers["Location"]

    async def back(self, callback_url: str) -> tuple[int, str]:
        async with self.http.get(callback_url) as page:
            return page.status, await page.text()

    async def whole(self) -> tuple[int, str]:
        return await self.back(await self.approve(await self.to_discord()))


async def linked_and_signed_in(world: World, browser: aiohttp.ClientSession) -> None:
    """Alice links @alice_x, then signs in from the Linked Roles menu."""
    await link(world, world.alice, "alice_x")
    world.discord.oauth.approving_user = world.alice
    status, page = await SignIn(browser, world.services.settings.public_url).whole()
    assert status == 200, page


def connection_of(fake: FakeDiscord, user: FakeUser) -> dict[str, object] | None:
    return fake.oauth.role_connections.get(user.id)


def linked_to(fake: FakeDiscord, user: FakeUser, handle: str) -> bool:
    """Whether Discord shows `handle` as the user's X account, with the metadata of a link."""
    connection = connection_of(fake, user) or {}
    metadata = connection.get("metadata")
    return (
        connection.get("platform_name") == "X"
        and connection.get("platform_username") == f"@{handle}"
        and isinstance(metadata, dict)
        and metadata.get("linked") == "1"
        and "linked_since" in metadata
    )


async def wait_for_connection(fake: FakeDiscord, user: FakeUser, wanted: object) -> None:
    """Wait (event-driven, with the fake's deadline) until the user's role connection is it."""
    await fake.wait(
        lambda: True if connection_of(fake, user) == wanted else None, f"connection {wanted}"
    )


CLEARED = {"platform_name": "X", "platform_username": None, "metadata": {}}


async def test_a_linked_member_gets_their_x_account_on_discord(
    world: World, browser: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """Linked first, then signed in from the Linked Roles menu: Discord shows @handle (X), the
    metadata says linked and since when; no Discord token or the client secret appears on the
    page, in the log at DEBUG or in the database in clear."""
    await link(world, world.alice, "alice_x")
    world.discord.oauth.approving_user = world.alice
    with caplog.at_level(logging.DEBUG):
        status, page = await SignIn(browser, world.services.settings.public_url).whole()

    assert status == 200
    assert "Connected as @alice_x" in page
    connection = connection_of(world.discord, world.alice)
    assert connection is not None
    assert connection["platform_username"] == "@alice_x"
    stored = await world.services.links.get(world.alice.id)
    assert stored is not None
    assert connection["metadata"] == {
        "linked": "1",
        "linked_since": stored.linked_at.isoformat(),
    }
    oauth = world.discord.oauth
    secrets = [oauth.client_secret, *oauth.issued_tokens()]
    assert len(secrets) == 3
    async with world.services.sessions() as session:
        row = await session.get(RoleConnection, world.alice.id)
    assert row is not None
    stored = f"{row.access_token_sealed} {row.refresh_token_sealed} {row!r}"
    for secret in secrets:
        assert secret not in page
        assert secret not in caplog.text
        assert secret not in stored
    assert world.services.sealer.open(row.access_token_sealed) in secrets


async def test_a_member_without_a_link_is_told_how_and_gets_the_role_when_linked(
    world: World, browser: aiohttp.ClientSession
) -> None:
    """No link yet: the page says to run /link-twitter; finishing the link writes the role
    connection without coming back to the page."""
    world.discord.oauth.approving_user = world.bob
    status, page = await SignIn(browser, world.services.settings.public_url).whole()
    assert status == 200
    assert "Link your X account first" in page
    assert "/link-twitter" in page
    assert connection_of(world.discord, world.bob) == CLEARED

    await link(world, world.bob, "bob_x")
    await world.discord.wait(
        lambda: True if linked_to(world.discord, world.bob, "bob_x") else None, "bob's role"
    )


async def test_unlinking_clears_the_role_connection(
    world: World, browser: aiohttp.ClientSession
) -> None:
    """/unlink-twitter, then Unlink: Discord no longer shows the X account."""
    await linked_and_signed_in(world, browser)
    assert linked_to(world.discord, world.alice, "alice_x")

    assert (await unlink_with_buttons(world, world.alice)).startswith("Unlinked @alice_x.")
    await wait_for_connection(world.discord, world.alice, CLEARED)


async def test_relinking_and_a_moved_account_update_the_role_connection(
    world: World, browser: aiohttp.ClientSession
) -> None:
    """Alice relinks to another X account: Discord shows the new one. Bob then proves he owns
    that account: it moves to him, and Alice's role connection is cleared."""
    await linked_and_signed_in(world, browser)

    assert await relink(world, world.alice, "alice_new") == "Linked as @alice_new."
    await world.discord.wait(
        lambda: True if linked_to(world.discord, world.alice, "alice_new") else None, "relink"
    )

    dm = await run_link_twitter(world, world.bob)
    page = await world.browser.authorize(link_button_url(dm), username="alice_new")
    moved = await enter_code(world, world.bob, dm, page.code)
    assert moved.startswith("Linked as @alice_new. This X account was linked to another")
    await wait_for_connection(world.discord, world.alice, CLEARED)


async def test_a_link_revoked_at_x_is_cleared_by_the_sweep(
    world: World, browser: aiohttp.ClientSession
) -> None:
    """X revoked the member's token (found when posting): the next sweep clears the role."""
    await linked_and_signed_in(world, browser)
    async with world.services.sessions.begin() as session:
        await session.execute(
            update(LinkedAccount)
            .where(LinkedAccount.discord_user_id == world.alice.id)
            .values(revoked_at=utcnow())
        )

    assert await world.services.role_connections.push_due() == (1, 0)
    assert connection_of(world.discord, world.alice) == CLEARED
    assert await world.services.role_connections.push_due() == (0, 0)


async def test_discord_failing_a_write_is_retried_by_the_sweep(
    world: World, browser: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """A 503 on the write after an unlink is logged once as a WARNING; the sweep writes it."""
    await linked_and_signed_in(world, browser)

    world.discord.rest.fail_next("PUT", ROLE_CONNECTION_ROUTE, 503)
    with caplog.at_level(logging.WARNING):
        await world.services.links.unlink(world.alice.id)
        await world.services.role_connections.push(world.alice.id)
    assert linked_to(world.discord, world.alice, "alice_x")
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        f"Discord failed the role connection of user {world.alice.id}; will retry"
    ]

    assert await world.services.role_connections.push_due() == (1, 0)
    assert connection_of(world.discord, world.alice) == CLEARED


async def test_discord_failing_the_write_at_sign_in_says_so_and_the_sweep_writes_it(
    world: World, browser: aiohttp.ClientSession
) -> None:
    """Discord takes the sign-in but answers 503 to the write: the page says it will be tried
    again (no error page), and the sweep writes it."""
    await link(world, world.alice, "alice_x")
    world.discord.oauth.approving_user = world.alice
    world.discord.rest.fail_next("PUT", ROLE_CONNECTION_ROUTE, 503)
    status, page = await SignIn(browser, world.services.settings.public_url).whole()
    assert status == 200
    assert "Connected as @alice_x" in page
    assert "Discord did not take the update just now" in page
    assert connection_of(world.discord, world.alice) is None

    assert await world.services.role_connections.push_due() == (1, 0)
    assert linked_to(world.discord, world.alice, "alice_x")


async def test_an_expired_discord_token_is_refreshed(
    world: World, browser: aiohttp.ClientSession
) -> None:
    """Discord's access token ran out (the fake refuses it with 401): the refresh token gets a
    new one and the write goes through; so too when our clock says it is about to expire."""
    await link(world, world.alice, "alice_x")
    oauth = world.discord.oauth
    oauth.approving_user = world.alice
    await SignIn(browser, world.services.settings.public_url).whole()
    assert oauth.token_requests == ["authorization_code"]

    oauth.expire_access_tokens()
    assert await relink(world, world.alice, "alice_new") == "Linked as @alice_new."
    await world.discord.wait(
        lambda: True if linked_to(world.discord, world.alice, "alice_new") else None, "relink"
    )
    assert oauth.token_requests == ["authorization_code", "refresh_token"]

    later = RoleConnectionService(
        world.services.sessions,
        world.services.sealer,
        world.services.role_connections._discord,
        sign_in_ttl=timedelta(minutes=15),
        clock=lambda: utcnow() + timedelta(days=8),  # past the week Discord's tokens last
    )
    await world.services.links.unlink(world.alice.id)
    await later.push(world.alice.id)
    assert connection_of(world.discord, world.alice) == CLEARED
    assert oauth.token_requests == ["authorization_code", "refresh_token", "refresh_token"]


async def test_a_member_who_removed_the_app_is_forgotten(
    world: World, browser: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """The member deauthorized tweetlink in Discord: their grant is deleted, nothing is
    retried, and no error is logged."""
    await linked_and_signed_in(world, browser)
    world.discord.oauth.revoke_user(world.alice)

    with caplog.at_level(logging.INFO):
        await world.services.links.unlink(world.alice.id)
        await world.services.role_connections.push(world.alice.id)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    async with world.services.sessions() as session:
        assert await session.get(RoleConnection, world.alice.id) is None
    assert await world.services.role_connections.push_due() == (0, 0)


async def test_a_forged_state_is_refused(
    services: Services, web_server: str, fake_discord: FakeDiscord, browser: aiohttp.ClientSession
) -> None:
    """A callback with a state we never issued (or none) changes nothing and asks nothing of
    Discord."""
    sign_in = SignIn(browser, web_server)
    await sign_in.to_discord()  # the browser has its cookie
    for query in ("state=forged-state&code=abc", "code=abc", "state=x&code=a%00b"):
        status, page = await sign_in.back(f"{web_server}/discord/callback?{query}")
        assert status == 400
        assert "This sign-in is out of date" in page
    assert fake_discord.oauth.token_requests == []
    async with services.sessions() as session:
        assert (await session.scalars(select(RoleConnection))).all() == []


async def test_a_replayed_state_is_refused(
    services: Services, web_server: str, fake_discord: FakeDiscord, browser: aiohttp.ClientSession
) -> None:
    """The same callback URL twice: the second is refused, and Discord is asked once."""
    fake_discord.oauth.approving_user = fake_discord.add_user("carol")
    sign_in = SignIn(browser, web_server)
    callback = await sign_in.approve(await sign_in.to_discord())
    assert (await sign_in.back(callback))[0] == 200
    status, page = await sign_in.back(callback)
    assert status == 400
    assert "This sign-in is out of date" in page
    assert fake_discord.oauth.token_requests == ["authorization_code"]


async def test_a_state_from_another_browser_is_refused_and_stays_usable_for_its_own(
    web_server: str, fake_discord: FakeDiscord, browser: aiohttp.ClientSession
) -> None:
    """An attacker's callback URL opened in the victim's browser (login CSRF) is refused; the
    browser that started the sign-in still finishes it."""
    fake_discord.oauth.approving_user = fake_discord.add_user("mallory")
    attacker = SignIn(browser, web_server)
    callback = await attacker.approve(await attacker.to_discord())
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        victim = SignIn(other, web_server)
        await victim.to_discord()
        assert (await victim.back(callback))[0] == 400
    assert (await attacker.back(callback))[0] == 200


async def test_an_expired_state_is_refused(
    services: Services, web_server: str, browser: aiohttp.ClientSession
) -> None:
    """A sign-in older than its time is refused, and the sweep deletes it."""
    later = RoleConnectionService(
        services.sessions,
        services.sealer,
        services.role_connections._discord,
        sign_in_ttl=timedelta(minutes=15),
        clock=lambda: utcnow() + timedelta(minutes=16),
    )
    sign_in = SignIn(browser, web_server)
    authorize_url = await sign_in.to_discord()
    state = parse_qs(urlsplit(authorize_url).query)["state"][0]
    browser_secret = next(c.value for c in browser.cookie_jar if c.key == "tweetlink_browser")
    with pytest.raises(Exception, match="out of date"):
        await later.finish_sign_in(state, browser_secret, "code")
    assert await later.purge_expired() == 1


async def test_the_button_needs_its_form_token(
    web_server: str, fake_discord: FakeDiscord, browser: aiohttp.ClientSession
) -> None:
    """POST /linked-role without the page's token, or from a browser without the cookie, is
    refused with 403 and starts nothing."""
    await SignIn(browser, web_server).to_discord()
    for data in ({"csrf_token": "wrong"}, {}):
        async with browser.post(f"{web_server}/linked-role", data=data) as refused:
            assert refused.status == 403
    async with (
        aiohttp.ClientSession() as no_cookies,
        no_cookies.post(f"{web_server}/linked-role", data={"csrf_token": "x"}) as page,
    ):
        assert page.status == 403
    assert not [r for r in fake_discord.requests if r.path.startswith("/oauth2/authorize")]


async def test_cancelling_on_discord_changes_nothing(
    services: Services, web_server: str, fake_discord: FakeDiscord, browser: aiohttp.ClientSession
) -> None:
    """Cancel on Discord's page brings the member back to words, not an error trace."""
    fake_discord.oauth.deny_next = True
    status, page = await SignIn(browser, web_server).whole()
    assert status == 400
    assert "You cancelled on Discord" in page
    assert fake_discord.oauth.token_requests == []


async def test_the_page_says_when_linked_roles_are_not_set_up(
    services: Services, web_server: str
) -> None:
    """Without DISCORD_CLIENT_ID and _SECRET, /linked-role is a 404 page saying so."""
    plain = RoleConnectionService(
        services.sessions, services.sealer, None, sign_in_ttl=timedelta(minutes=15)
    )
    assert not plain.enabled
    await plain.push(1)  # nothing to do, and no error
    # The served app uses the fixture's (enabled) services; check the page on one without.
    app = create_app(
        services.links,
        twitter_api_base=services.settings.twitter_api_base,
        ping=services.database_ok,
        role_connections=plain,
    )
    async with TestClient(TestServer(app)) as client:
        page = await client.get("/linked-role")
        assert page.status == 404
        assert "Linked Roles are not set up" in await page.text()
        assert "/link-twitter" in await page.text()


async def test_roles_register_puts_the_metadata(
    settings: Settings, fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    """`tweetlink roles register` puts the records with the bot's token and names the URL to
    set; without DISCORD_CLIENT_ID it stops with one line."""
    fake_discord.oauth.metadata = []
    env = environment_of(settings) | {
        "DISCORD_TOKEN": fake_discord.token,
        "DISCORD_CLIENT_ID": str(fake_discord.application_id),
        "DISCORD_CLIENT_SECRET": fake_discord.oauth.client_secret,
        "DISCORD_BASE_URL": fake_discord.base_url,
    }
    done = await tweetlink(tmp_path, env, "roles", "register")
    assert done.returncode == 0, done.stderr
    assert fake_discord.oauth.metadata == METADATA_RECORDS
    assert f"Linked Roles Verification URL to {settings.public_url}/linked-role" in done.stdout

    without = {k: v for k, v in env.items() if not k.startswith("DISCORD_CLIENT_")}
    missing = await tweetlink(tmp_path, without, "roles", "register")
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        "tweetlink: configuration error: DISCORD_CLIENT_ID is not set (see .env.example)"
    ]

    env["DISCORD_TOKEN"] = "wrong"
    refused = await tweetlink(tmp_path, env, "roles", "register")
    assert refused.returncode == 1
    assert "check DISCORD_TOKEN" in refused.stderr
    assert "Traceback" not in refused.stderr


@needs_chromium
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_whole_sign_in_in_a_browser(world: World) -> None:
    """In Chromium: the Linked Roles page, Continue to Discord, the fake Discord approves and
    sends the browser back, and our page says what Discord now shows; the role connection is
    written. The page's screenshot is saved to `test-artifacts/linked-role.png`."""
    await link(world, world.alice, "alice_x")
    world.discord.oauth.approving_user = world.alice
    public_url = world.services.settings.public_url
    async with chromium_page() as page:
        await page.goto(f"{public_url}/linked-role")
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "Show your X account on Discord"
        )
        await page.get_by_role("button", name="Continue to Discord").click()
        await page.wait_for_url(starts_with(f"{public_url}/discord/callback?"))
        await expect(page.get_by_role("heading", level=1)).to_have_text("Connected as @alice_x")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "linked-role.png", full_page=True)
    assert linked_to(world.discord, world.alice, "alice_x")


async def test_keys_rotate_reseals_discord_tokens_too(
    world: World, browser: aiohttp.ClientSession
) -> None:
    """After `keys rotate` under a new first key, the old key removed, a push still opens the
    member's Discord tokens."""
    await linked_and_signed_in(world, browser)

    await world.services.links.unlink(world.alice.id)  # the push is left to the new key
    new_key = Sealer.generate_key()
    both = Sealer([new_key, *world.services.settings.encryption_keys()])
    rotated = {r.table: r.rows for r in await reseal_everything(world.services.sessions, both)}
    assert rotated["role_connections"] == 1
    only_new = RoleConnectionService(
        world.services.sessions,
        Sealer([new_key]),
        world.services.role_connections._discord,
        sign_in_ttl=timedelta(minutes=15),
    )
    await only_new.push(world.alice.id)
    assert connection_of(world.discord, world.alice) == CLEARED
