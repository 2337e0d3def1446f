"""Two real `tweetlink web` processes on one PostgreSQL database: any worker carries on any step
of any flow, since a flow's state lives in the database and never in a worker.

The bot's part (`LinkService.start`, `confirm`) runs here, on the same database; the member's
browser is a plain aiohttp client that a load balancer would send to either worker at each step.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from core.config import Settings
from core.link_values import Link
from core.models import IntentStatus, LinkedAccount, LinkIntent
from tests.fakes.twitter import FakeTwitter
from tests.support.member_browser import MemberBrowser
from tests.support.processes import environment_of
from tests.support.web_workers import WebWorker, on_worker, web_workers
from tweetlink.services import Services

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("TEST_DATABASE_URL"),
        reason="TEST_DATABASE_URL is not set (no PostgreSQL to test on)",
    ),
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

FIRST_DISCORD_ID = 500_000_000_000_000_000
FLOWS = 200


@pytest.fixture
async def workers(settings: Settings, tmp_path: Path) -> AsyncIterator[list[WebWorker]]:
    """Workers A and B on the test database (migrated already) and the fake X; PUBLIC_URL is
    A's, so X sends every browser back to A unless the test moves the callback."""
    async with web_workers(environment_of(settings), 2, tmp_path) as running:
        yield running


async def stop_cleanly(workers: list[WebWorker]) -> None:
    """SIGTERM each worker: it exits 0, and nothing it logged is a traceback."""
    codes = await asyncio.gather(*(worker.stop() for worker in workers))
    for worker, code in zip(workers, codes, strict=True):
        assert code == 0, worker.log
        assert "Traceback" not in worker.log, worker.log


def served(worker: WebWorker, method: str, path: str, status: int) -> int:
    """How many requests for `path` (a prefix) the worker answered with `status`, from its
    access log."""
    line = rf"aiohttp\.access: {method} {re.escape(path)}\S* -> {status} in "
    return len(re.findall(line, worker.log))


async def link_through(
    services: Services,
    browser: MemberBrowser,
    discord_user_id: int,
    handle: str,
    *,
    landing: WebWorker,
    continue_on: WebWorker,
    callback: WebWorker,
) -> Link:
    """One whole flow, each of the browser's steps sent to the worker named for it."""
    started = await services.links.start(discord_user_id, f"member {discord_user_id}")
    link_url = services.settings.link_url(started.intent_id)
    page = await browser.open(on_worker(link_url, landing))
    assert page.status == 200, page.html
    authorize_url = await browser.submit_continue(page, on_worker(link_url, continue_on))
    callback_url = await browser.decide_on_x(authorize_url, username=handle, action="authorize")
    page = await browser.open(on_worker(callback_url, callback))
    assert page.status == 200, page.html
    return await services.links.confirm(discord_user_id, page.code)


async def test_a_flow_continued_on_a_links_through_a_callback_on_b(
    services: Services, workers: list[WebWorker], fake_twitter: FakeTwitter
) -> None:
    """Landing and Continue on worker A, X's callback on worker B: the code B shows links."""
    a, b = workers
    async with aiohttp.ClientSession() as http:
        link = await link_through(
            services,
            MemberBrowser(http),
            FIRST_DISCORD_ID,
            "alice",
            landing=a,
            continue_on=a,
            callback=b,
        )
    assert link.screen_name == "alice"
    assert link.twitter_user_id == fake_twitter.users["alice"].user_id
    stored = await services.links.get(FIRST_DISCORD_ID)
    assert stored is not None
    assert stored.screen_name == "alice"

    await stop_cleanly(workers)
    assert (served(a, "POST", "/link/", 303), served(a, "GET", "/oauth/callback", 200)) == (1, 0)
    assert (served(b, "POST", "/link/", 303), served(b, "GET", "/oauth/callback", 200)) == (0, 1)


async def test_200_concurrent_flows_over_two_workers_each_link_once(
    services: Services, workers: list[WebWorker], fake_twitter: FakeTwitter
) -> None:
    """200 flows at once, their landing, Continue and callback each sent to A or B in every
    combination: every flow confirms its own X account, none is lost, none doubled, and X
    exchanged each flow's verifier once."""

    def on(index: int, step: int) -> WebWorker:
        return workers[(index >> step) & 1]  # bits 0, 1, 2: all 8 routes, 25 flows each

    handles = {FIRST_DISCORD_ID + index: f"w{index}" for index in range(FLOWS)}
    # One connection per flow in flight: aiohttp's default of 100 would queue half of them.
    connector = aiohttp.TCPConnector(limit=FLOWS)
    async with aiohttp.ClientSession(connector=connector) as http:
        browser = MemberBrowser(http)
        links = await asyncio.gather(
            *(
                link_through(
                    services,
                    browser,
                    FIRST_DISCORD_ID + index,
                    f"w{index}",
                    landing=on(index, 0),
                    continue_on=on(index, 1),
                    callback=on(index, 2),
                )
                for index in range(FLOWS)
            )
        )

    assert [link.screen_name for link in links] == list(handles.values())
    async with services.sessions() as session:
        rows = (
            await session.execute(
                select(
                    LinkedAccount.discord_user_id,
                    LinkedAccount.screen_name,
                    LinkedAccount.twitter_user_id,
                )
            )
        ).all()
        statuses = list(await session.scalars(select(LinkIntent.status)))
    assert {discord_user_id: handle for discord_user_id, handle, _ in rows} == handles
    assert len(rows) == FLOWS  # no Discord user holds two links
    assert sorted(x_id for _, _, x_id in rows) == sorted(
        fake_twitter.users[handle].user_id for handle in handles.values()
    )  # each link its own X account, none twice
    assert statuses == [IntentStatus.LINKED] * FLOWS
    assert fake_twitter.requests.count(("POST", "/oauth/request_token")) == FLOWS
    assert fake_twitter.requests.count(("POST", "/oauth/access_token")) == FLOWS

    await stop_cleanly(workers)
    for worker in workers:  # each served its half of every step
        assert served(worker, "GET", "/link/", 200) == FLOWS // 2
        assert served(worker, "POST", "/link/", 303) == FLOWS // 2
        assert served(worker, "GET", "/oauth/callback", 200) == FLOWS // 2
