"""No secret is ever in clear in the database, the logs (DEBUG included) or any page."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text

from tests.fakes.twitter import FakeTwitter
from tests.support.credentials import CONSUMER_SECRET, DISCORD_TOKEN
from tests.support.member_browser import MemberBrowser
from tweetlink.cli_support import configure_logging
from tweetlink.services import Services

DISCORD_ID = 333_333_333_333_333_333


async def database_dump(services: Services) -> str:
    """Every value of every row of every table, as text."""
    rows: list[str] = []
    async with services.engine.connect() as connection:
        for table in ("link_intents", "linked_accounts"):
            result = await connection.execute(text(f"SELECT * FROM {table}"))  # noqa: S608
            rows.extend(repr(tuple(row)) for row in result)
    return "\n".join(rows)


def sqlite_files(database_url: str) -> bytes:
    """The SQLite database file with its write-ahead log, byte for byte."""
    path = Path(database_url.split("///", 1)[1])
    return b"".join(
        candidate.read_bytes()
        for candidate in (path, path.with_name(path.name + "-wal"))
        if candidate.exists()
    )


async def test_no_secret_in_database_logs_or_pages(
    services: Services,
    web_server: str,
    fake_twitter: FakeTwitter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Link, reload the pages, unlink, link again: no secret appears in clear anywhere, with
    logging set up at DEBUG as every command sets it up."""
    configure_logging("DEBUG")
    caplog.set_level(logging.DEBUG)
    pages: list[str] = []
    async with aiohttp.ClientSession() as http:
        browser = MemberBrowser(http)
        started = await services.links.start(DISCORD_ID, "carol#0")
        link_url = services.settings.link_url(started.intent_id)
        pages.append((await browser.open(link_url)).html)
        authorize_url = await browser.press_continue(link_url)
        callback = await browser.decide_on_x(authorize_url, username="carol", action="authorize")
        code_page = await browser.open(callback)
        pages.extend([code_page.html, (await browser.open(callback)).html])
        await services.links.confirm(DISCORD_ID, code_page.code)
        pages.append((await browser.open(callback)).html)

        dump = await database_dump(services)
        files = (
            sqlite_files(services.settings.database_url)
            if services.settings.database_url.startswith("sqlite")
            else b""
        )
        await services.links.unlink(DISCORD_ID)

    secrets = [*fake_twitter.issued_secrets, CONSUMER_SECRET, DISCORD_TOKEN]
    assert len(fake_twitter.issued_secrets) == 3  # access token, its secret, the verifier
    logs = "\n".join(
        f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        for record in caplog.records
    )
    assert caplog.records, "DEBUG logging captured nothing; the test would prove nothing"
    for secret in secrets:
        assert secret not in dump
        assert secret.encode() not in files
        assert secret not in logs
        for page in pages:
            assert secret not in page
    assert repr(services.settings).count(CONSUMER_SECRET) == 0
    assert DISCORD_TOKEN not in repr(services.settings)
    assert "carol" in dump  # the dump is real: it holds the handle
