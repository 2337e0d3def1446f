"""A member's browser played over plain HTTP: our landing page, X's authorize page, our callback."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin

import aiohttp

from core.link_values import Link
from tweetlink.services import Services

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_CODE = re.compile(r'<div class="code" id="code"[^>]*>(\d{6})</div>')


@dataclass(frozen=True)
class Page:
    """A fetched page."""

    url: str
    status: int
    html: str

    @property
    def code(self) -> str:
        """The confirmation code shown on the page."""
        found = _CODE.search(self.html)
        assert found, f"no code on the page ({self.status}): {self.html[:500]}"
        return found.group(1)


class MemberBrowser:
    """Walks the link flow the way a browser does, one redirect at a time."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http

    async def open(self, url: str) -> Page:
        """GET a page without following redirects."""
        async with self.http.get(url, allow_redirects=False) as response:
            return Page(url, response.status, await response.text())

    async def press_continue(self, link_url: str) -> str:
        """Open the landing page and press Continue to X; returns where we are redirected."""
        landing = await self.open(link_url)
        assert landing.status == 200, landing.html
        return await self.submit_continue(landing, link_url)

    async def submit_continue(self, landing: Page, post_url: str) -> str:
        """Press Continue to X on a landing page already open, posting its form to `post_url`
        (behind a load balancer, perhaps another worker); returns where we are redirected."""
        csrf = _CSRF.search(landing.html)
        assert csrf, landing.html
        async with self.http.post(
            post_url, data={"csrf_token": csrf.group(1)}, allow_redirects=False
        ) as response:
            assert response.status == 303, await response.text()
            return response.headers["Location"]

    async def decide_on_x(self, authorize_url: str, *, username: str, action: str) -> str:
        """Press Authorize (as `username`) or Cancel on X's page; returns the callback URL."""
        token = authorize_url.split("oauth_token=", 1)[1]
        async with self.http.post(
            urljoin(authorize_url, "/oauth/authorize"),
            data={"oauth_token": token, "username": username, "action": action},
            allow_redirects=False,
        ) as response:
            assert response.status == 302, await response.text()
            return response.headers["Location"]

    async def authorize(self, link_url: str, *, username: str = "alice") -> Page:
        """The whole browser side: landing, X as `username`, back to our callback page."""
        authorize_url = await self.press_continue(link_url)
        callback_url = await self.decide_on_x(authorize_url, username=username, action="authorize")
        return await self.open(callback_url)


async def link_member(services: Services, discord_id: int, handle: str) -> Link:
    """Link `discord_id` to the X account `handle` through the pages, as a member would."""
    started = await services.links.start(discord_id, f"member {discord_id}")
    async with aiohttp.ClientSession() as http:
        page = await MemberBrowser(http).authorize(
            services.settings.link_url(started.intent_id), username=handle
        )
    return await services.links.confirm(discord_id, page.code)
