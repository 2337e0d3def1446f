"""The database going away under a running `tweetlink web`, as real processes: PostgreSQL's
connections cut under load, and a SQLite file that turns read-only. While it lasts, /healthz
and the pages say so (503, one WARNING line each, no traceback); afterwards everything works
again, without a restart."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import cast

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from core.config import Settings
from core.links import LinkService
from tests.conftest import POSTGRES_URL
from tests.fakes.twitter import FakeTwitter
from tests.support.member_browser import MemberBrowser
from tests.support.processes import environment_of
from tests.support.tcp_proxy import TcpProxy
from tests.support.web_workers import (
    WebWorker,
    free_port,
    on_worker,
    start_web_worker,
    until_healthy,
)
from tweetlink.services import Services
from web.app import create_app

MEMBER = 530_000_000_000_000_001
SECONDS = 20.0


async def until(condition: Callable[[], object], what: str) -> None:
    """Poll until `condition()` is true, or fail after SECONDS."""
    deadline = asyncio.get_running_loop().time() + SECONDS
    while not await _value(condition()):
        assert asyncio.get_running_loop().time() < deadline, f"never: {what}"
        await asyncio.sleep(0.05)


async def _value(result: object) -> object:
    return await result if asyncio.iscoroutine(result) else result


async def healthz_says(http: aiohttp.ClientSession, worker: WebWorker, status: int) -> bool:
    async with http.get(f"{worker.url}/healthz") as answer:
        return answer.status == status


@contextlib.asynccontextmanager
async def web_on(env: dict[str, str], tmp_path: Path) -> AsyncIterator[WebWorker]:
    port = free_port()
    worker = await start_web_worker(env, port, f"http://127.0.0.1:{port}", tmp_path / "web.log")
    try:
        await until_healthy(worker)
        yield worker
    finally:
        assert await worker.stop() == 0, worker.log
        assert "Traceback" not in worker.log, worker.log
        assert " ERROR " not in worker.log, worker.log


async def link_through(services: Services, worker: WebWorker, http: aiohttp.ClientSession) -> str:
    """One whole flow through the worker's pages; the X handle linked."""
    started = await services.links.start(MEMBER, "member")
    link_url = on_worker(services.settings.link_url(started.intent_id), worker)
    page = await MemberBrowser(http).authorize(link_url, username="ada_x")
    return (await services.links.confirm(MEMBER, page.code)).screen_name


@pytest.mark.skipif(not POSTGRES_URL, reason="TEST_DATABASE_URL is not set (no PostgreSQL)")
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_postgresql_cut_under_load_then_back_without_a_restart(
    settings: Settings, services: Services, fake_twitter: FakeTwitter, tmp_path: Path
) -> None:
    server = make_url(settings.database_url)
    async with TcpProxy(server.host or "127.0.0.1", server.port or 5432) as proxy:
        through_proxy = server.set(port=proxy.port).render_as_string(hide_password=False)
        env = environment_of(settings) | {"DATABASE_URL": through_proxy}
        async with web_on(env, tmp_path) as worker, aiohttp.ClientSession() as http:
            started = await services.links.start(MEMBER, "member")
            landing = on_worker(services.settings.link_url(started.intent_id), worker)
            statuses: list[int] = []
            stop = asyncio.Event()

            async def load() -> None:
                while not stop.is_set():
                    async with http.get(landing) as answer:
                        statuses.append(answer.status)

            loaders = [asyncio.create_task(load()) for _ in range(8)]
            await until(lambda: len(statuses) > 20, "pages served before the cut")
            await proxy.cut()
            await until(lambda: healthz_says(http, worker, 503), "/healthz 503 while it is down")
            cut_at = len(statuses)
            await until(lambda: 503 in statuses[cut_at:], "pages answering 503 while it is down")
            await proxy.restore()
            await until(lambda: healthz_says(http, worker, 200), "/healthz 200 once it is back")
            back_at = len(statuses)
            await until(lambda: statuses[back_at:].count(200) > 20, "pages served again")
            stop.set()
            await asyncio.gather(*loaders)

            assert set(statuses) <= {200, 503}
            assert await link_through(services, worker, http) == "ada_x"
        assert "the database is unavailable on GET /link/" in worker.log


@contextlib.contextmanager
def immutable(paths: list[Path]) -> Iterator[None]:
    """The files made immutable (even root cannot write them) until the block ends."""
    subprocess.run(["chattr", "+i", *map(str, paths)], check=True)  # noqa: S603, S607
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, paths)], check=True)  # noqa: S603, S607


def chattr_works(tmp_path: Path) -> bool:
    probe = tmp_path / "probe"
    probe.touch()
    try:
        with (
            immutable([probe]),
            contextlib.suppress(PermissionError),
            probe.open("a") as opened,
        ):
            opened.write("x")
            return False
    except (subprocess.CalledProcessError, FileNotFoundError):
        return False
    return True


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_sqlite_file_that_turns_read_only_then_writable_again(
    settings: Settings, services: Services, fake_twitter: FakeTwitter, tmp_path: Path
) -> None:
    if shutil.which("chattr") is None or not chattr_works(tmp_path):
        pytest.skip("chattr +i does not work here (not root, or a filesystem without it)")
    database = Path(make_url(settings.database_url).database or "")
    async with (
        web_on(environment_of(settings), tmp_path) as worker,
        aiohttp.ClientSession() as http,
    ):
        started = await services.links.start(MEMBER, "member")
        link_url = on_worker(services.settings.link_url(started.intent_id), worker)
        browser = MemberBrowser(http)
        landing = await browser.open(link_url)
        files = [p for p in database.parent.iterdir() if p.name.startswith(database.name)]

        csrf = re.search(r'name="csrf_token" value="([^"]+)"', landing.html)
        assert csrf is not None
        with immutable(files):
            refused = await http.post(link_url, data={"csrf_token": csrf[1]})
            page = await refused.text()

        assert refused.status == 503, page
        assert "Its database is not answering. Nothing was changed." in page
        authorize_url = await browser.submit_continue(landing, link_url)  # writable again
        callback = await browser.decide_on_x(authorize_url, username="ada_x", action="authorize")
        code = (await browser.open(callback)).code
        assert (await services.links.confirm(MEMBER, code)).screen_name == "ada_x"
    assert "the database is unavailable on POST /link/" in worker.log


class FailingLinks:
    """A stand-in for LinkService whose landing page fails with `error`."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def landing(self, intent_id: str) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status", "words"),
    [
        (PoolTimeout("QueuePool limit of size 1 overflow 0 reached"), 503, "not answering"),
        (OperationalError("SELECT", {}, Exception("database is locked")), 503, "not answering"),
        (RuntimeError("a bug"), 500, "quote error id"),
    ],
)
async def test_which_failures_are_the_database_being_unavailable(
    error: Exception, status: int, words: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every connection busy past the pool's wait is the database unavailable too, in one
    WARNING line; a bug stays a 500 with its traceback logged, for whoever fixes it."""

    async def ping() -> bool:
        return True

    app = create_app(
        cast(LinkService, FailingLinks(error)), twitter_api_base="http://x.invalid", ping=ping
    )
    async with TestClient(TestServer(app)) as client:
        answer = await client.get("/link/abc")
        page = await answer.text()

    assert answer.status == status
    assert words in page
    levels = {record.levelname for record in caplog.records if record.name == "web.app"}
    assert levels == ({"WARNING"} if status == 503 else {"ERROR"})
