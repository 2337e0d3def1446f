"""The link flow in a real headless Chromium: our landing page, the fake X's authorize page and
our callback page, clicked through the way a member does it, with no mocks.

Chromium is Debian's (`/usr/bin/chromium`, which `scripts/test` installs when it is missing);
Playwright's own browser downloads are never used. These tests exercise pages, not the database,
so they run on SQLite only. The code page's screenshot is saved to `test-artifacts/link-code.png`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Page, expect

from tests.fakes.discord import FakeDiscord
from tests.fakes.twitter import FakeTwitter
from tests.support.chromium import chromium_page, needs_chromium, starts_with
from tests.support.discord_bot import (
    World,
    enter_code,
    link_button_url,
    run_link_twitter,
    running_bot,
)
from tests.support.member_browser import MemberBrowser
from tweetlink.services import Services

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
MEMBER_DISCORD = 333_333_333_333_333_333

pytestmark = [
    needs_chromium,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]


@pytest.fixture
async def page(web_server: str) -> AsyncIterator[Page]:
    """A fresh tab in a headless Chromium, with our pages already being served."""
    async with chromium_page() as tab:
        yield tab


async def continue_to_x(
    page: Page, services: Services, fake_twitter: FakeTwitter, discord_name: str
) -> None:
    """Start a flow, open its link and press Continue to X; ends on the fake X's page."""
    started = await services.links.start(MEMBER_DISCORD, discord_name)
    await page.goto(services.settings.link_url(started.intent_id))
    await expect(page.get_by_role("heading", level=1)).to_contain_text(discord_name)
    await page.get_by_role("button", name="Continue to X").click()
    await page.wait_for_url(starts_with(f"{fake_twitter.base_url}/oauth/authorize?"))


async def test_whole_flow_in_a_browser_links_the_account(
    services: Services, fake_twitter: FakeTwitter, page: Page
) -> None:
    """Continue to X, authorize as browser_user, read the code off our page, confirm it."""
    await continue_to_x(page, services, fake_twitter, "alice#0")
    await page.locator("#username").fill("browser_user")
    await page.get_by_role("button", name="Authorize app").click()

    await page.wait_for_url(starts_with(f"{services.settings.public_url}/oauth/callback?"))
    code_box = page.locator("#code")
    await expect(code_box).to_have_text(re.compile(r"^\s*\d{6}\s*$"))
    await expect(page.get_by_text("@browser_user")).to_be_visible()
    code = (await code_box.text_content() or "").strip()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "link-code.png"
    screenshot.unlink(missing_ok=True)
    await page.screenshot(path=screenshot, full_page=True)
    assert screenshot.is_file()
    assert screenshot.stat().st_size > 0

    link = await services.links.confirm(MEMBER_DISCORD, code)
    assert link.screen_name == "browser_user"
    stored = await services.links.get(MEMBER_DISCORD)
    assert stored is not None
    assert stored.screen_name == "browser_user"


async def test_cancel_on_x_in_a_browser_links_nothing(
    services: Services, fake_twitter: FakeTwitter, page: Page
) -> None:
    """Cancel on the fake X's page brings the member back to our 'Nothing was linked' page."""
    await continue_to_x(page, services, fake_twitter, "alice#0")
    await page.get_by_role("button", name="Cancel").click()

    await page.wait_for_url(starts_with(f"{services.settings.public_url}/oauth/callback?"))
    await expect(page.get_by_role("heading", name="Nothing was linked")).to_be_visible()
    await expect(page.get_by_role("link", name="Try again")).to_be_visible()
    assert await services.links.get(MEMBER_DISCORD) is None


async def test_discord_to_browser_to_discord(
    services: Services, fake_twitter: FakeTwitter, fake_discord: FakeDiscord, page: Page
) -> None:
    """/link-twitter in Discord, the DM's link opened in Chromium, the code typed in Discord."""
    guild = fake_discord.add_guild("Community")
    member = fake_discord.add_user("erin")
    guild.add_member(member)
    async with running_bot(services, fake_discord) as bot, aiohttp.ClientSession() as http:
        world = World(fake_discord, guild, member, member, bot, MemberBrowser(http), services)
        dm = await run_link_twitter(world, member)

        await page.goto(link_button_url(dm))
        await expect(page.get_by_role("heading", level=1)).to_contain_text("erin")
        await page.get_by_role("button", name="Continue to X").click()
        await page.wait_for_url(starts_with(f"{fake_twitter.base_url}/oauth/authorize?"))
        await page.locator("#username").fill("erin_x")
        await page.get_by_role("button", name="Authorize app").click()
        await page.wait_for_url(starts_with(f"{services.settings.public_url}/oauth/callback?"))
        code = (await page.locator("#code").text_content() or "").strip()

        assert await enter_code(world, member, dm, code) == "Linked as @erin_x."
    link = await services.links.get(member.id)
    assert link is not None
    assert link.screen_name == "erin_x"
