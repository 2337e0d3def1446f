"""The operator's command line, run as a real process against the test database and fake X."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from core.config import Settings
from core.links import LinkService
from core.sealing import Sealer
from tests.fakes.twitter import FakeTwitter
from tests.support.member_browser import MemberBrowser, link_member
from tests.support.processes import environment_of, tweetlink
from tweetlink.services import Services

DISCORD_ID = 444_444_444_444_444_444

# The command line is the same on every database; the database tests cover PostgreSQL.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    """The test settings as environment variables."""
    return environment_of(settings)


async def test_link_start_to_confirm_then_list_and_unlink(
    web_server: str, env: dict[str, str], tmp_path: Path
) -> None:
    """`link start` prints the URL; after X, `link confirm` links; `accounts` lists and unlinks."""
    started = await tweetlink(tmp_path, env, "link", "start", str(DISCORD_ID), "--name", "dave")
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip().splitlines()[-1]
    assert url.startswith(f"{web_server}/link/")

    async with aiohttp.ClientSession() as http:
        page = await MemberBrowser(http).authorize(url, username="dave_x")

    wrong = f"{(int(page.code) + 1) % 1_000_000:06d}"
    refused = await tweetlink(tmp_path, env, "link", "confirm", str(DISCORD_ID), wrong)
    assert refused.returncode == 1
    assert "That code is not right. 4 attempts left." in refused.stderr

    confirmed = await tweetlink(tmp_path, env, "link", "confirm", str(DISCORD_ID), page.code)
    assert confirmed.returncode == 0, confirmed.stderr
    assert confirmed.stdout.strip() == "Linked as @dave_x"

    listed = await tweetlink(tmp_path, env, "accounts", "list")
    header, row = listed.stdout.splitlines()
    assert header == "DISCORD USER\tX HANDLE\tX USER ID\tLINKED SINCE\tSTATE"
    assert row.startswith(f"{DISCORD_ID}\t@dave_x\t")
    assert row.endswith("\thealthy")

    unlinked = await tweetlink(tmp_path, env, "accounts", "unlink", str(DISCORD_ID))
    assert unlinked.returncode == 0, unlinked.stderr
    assert "Unlinked @dave_x" in unlinked.stdout
    again = await tweetlink(tmp_path, env, "accounts", "unlink", str(DISCORD_ID))
    assert again.returncode == 1
    assert again.stderr == f"tweetlink: No X account is linked to Discord user {DISCORD_ID}.\n"
    assert "/link-twitter" not in again.stderr


async def test_version(env: dict[str, str], tmp_path: Path) -> None:
    """`--version` says which tweetlink."""
    version = await tweetlink(tmp_path, env, "--version")
    assert version.stdout.strip() == "tweetlink 0.1.0"


@pytest.mark.parametrize("given", ["-5", "0", "abc", "12.5", str(2**64)])
async def test_discord_ids_must_be_positive_snowflakes(
    env: dict[str, str], tmp_path: Path, given: str
) -> None:
    refused = await tweetlink(tmp_path, env, "accounts", "show", given)
    assert refused.returncode == 2
    assert "is not a Discord id" in refused.stderr
    assert "Traceback" not in refused.stderr


async def test_link_start_without_a_name_names_the_discord_user_once(
    web_server: str, env: dict[str, str], tmp_path: Path
) -> None:
    """The landing page says "Discord user 4444", not "Discord user user 4444"."""
    started = await tweetlink(tmp_path, env, "link", "start", "4444")
    assert started.returncode == 0, started.stderr
    async with aiohttp.ClientSession() as http:
        page = await MemberBrowser(http).open(started.stdout.strip().splitlines()[-1])
    assert "Discord user 4444" in page.html
    assert "user user" not in page.html


async def test_missing_setting_stops_with_one_line(env: dict[str, str], tmp_path: Path) -> None:
    """Without TOKEN_ENCRYPTION_KEYS nothing starts, and the one line says so."""
    del env["TOKEN_ENCRYPTION_KEYS"]
    for command in (("web",), ("run",), ("accounts", "list")):
        finished = await tweetlink(tmp_path, env, *command)
        assert finished.returncode == 1
        assert finished.stderr == (
            "tweetlink: configuration error: TOKEN_ENCRYPTION_KEYS is not set (see .env.example)\n"
        )


async def test_web_refuses_an_old_schema(env: dict[str, str], tmp_path: Path) -> None:
    """On an empty database `web` says to run `tweetlink migrate`, and after it, would start."""
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    finished = await tweetlink(tmp_path, env, "web")
    assert finished.returncode == 1
    assert "run `tweetlink migrate`" in finished.stderr
    migrated = await tweetlink(tmp_path, env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "up to date" in migrated.stdout


async def test_check_reports_what_works_and_what_does_not(
    env: dict[str, str], tmp_path: Path
) -> None:
    """`check` proves the keys and callback at X, and names a wrong consumer secret."""
    finished = await tweetlink(tmp_path, env, "check")
    assert "settings: ok" in finished.stdout
    assert "database: ok" in finished.stdout
    assert "X: consumer keys ok" in finished.stdout


async def check_x_line(tmp_path: Path, env: dict[str, str]) -> str:
    finished = await tweetlink(tmp_path, env, "check")
    assert finished.returncode == 1
    assert "Traceback" not in finished.stderr
    [line] = [line for line in finished.stdout.splitlines() if line.startswith("X: ")]
    return line


async def test_check_names_the_setting_behind_each_refusal_of_x(
    env: dict[str, str], tmp_path: Path, fake_twitter: FakeTwitter
) -> None:
    """401 names the consumer settings; 415 prints the exact callback URL to register; an X
    that does not answer is named by its address."""
    wrong_secret = {**env, "TWITTER_CONSUMER_SECRET": "wrong-secret"}
    line = await check_x_line(tmp_path, wrong_secret)
    assert "(401)" in line
    assert "TWITTER_CONSUMER_KEY" in line
    assert "TWITTER_CONSUMER_SECRET" in line

    fake_twitter.allowed_callbacks = ["https://elsewhere.example/oauth/callback"]
    line = await check_x_line(tmp_path, env)
    assert f"register exactly {env['PUBLIC_URL']}/oauth/callback" in line

    nothing = {**env, "TWITTER_API_BASE": "http://127.0.0.1:1"}
    line = await check_x_line(tmp_path, nothing)
    assert "http://127.0.0.1:1 did not answer" in line
    assert "TWITTER_API_BASE" in line


async def test_accounts_show_audit_and_usage_as_json(
    services: Services, web_server: str, env: dict[str, str], tmp_path: Path
) -> None:
    """`accounts show/list --json`, an audited `unlink --reason`, `audit` and `usage --json`."""
    await link_member(services, DISCORD_ID, "erin_x")

    shown = await tweetlink(tmp_path, env, "accounts", "show", str(DISCORD_ID), "--json")
    assert shown.returncode == 0, shown.stderr
    details = json.loads(shown.stdout)
    assert details["link"]["screen_name"] == "erin_x"
    assert details["link"]["healthy"] is True
    assert details["tweets_24h"] == 0
    listed = json.loads((await tweetlink(tmp_path, env, "accounts", "list", "--json")).stdout)
    assert [entry["discord_user_id"] for entry in listed] == [DISCORD_ID]

    unlinked = await tweetlink(
        tmp_path, env, "accounts", "unlink", str(DISCORD_ID), "--reason", "asked by email"
    )
    assert unlinked.returncode == 0, unlinked.stderr

    audit = await tweetlink(tmp_path, env, "audit")
    assert "\tunlink\tby the command line\t" in audit.stdout
    assert "asked by email" in audit.stdout
    shown = await tweetlink(tmp_path, env, "accounts", "show", str(DISCORD_ID))
    assert "unlink by the command line" in shown.stdout  # the same actor name as `audit`
    [entry] = json.loads((await tweetlink(tmp_path, env, "audit", "--json")).stdout)
    assert (entry["action"], entry["target_id"], entry["actor_id"]) == ("unlink", DISCORD_ID, None)

    usage = json.loads((await tweetlink(tmp_path, env, "usage", "--json")).stdout)
    assert [window["days"] for window in usage] == [1, 7, 30]
    assert all(window["posts"] == 0 for window in usage)


@pytest.mark.parametrize("how", ["--env-file", "TWEETLINK_ENV_FILE"])
async def test_settings_are_found_the_same_way_from_any_directory(
    env: dict[str, str], tmp_path: Path, how: str
) -> None:
    """With the settings file named, a command run elsewhere uses its database, and says
    where the settings and the database come from."""
    settings_file = tmp_path / "tweetlink.env"
    database = tmp_path / "named" / "tweetlink.db"
    settings = {name: value for name, value in env.items() if name.isupper() and name != "PATH"}
    settings["DATABASE_URL"] = f"sqlite+aiosqlite:///{database}"
    settings_file.write_text("".join(f"{name}={value}\n" for name, value in settings.items()))
    bare = {name: value for name, value in env.items() if name not in settings}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if how == "--env-file":
        migrated = await tweetlink(elsewhere, bare, "--env-file", str(settings_file), "migrate")
    else:
        bare["TWEETLINK_ENV_FILE"] = str(settings_file)
        migrated = await tweetlink(elsewhere, bare, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert f"settings from {settings_file}" in migrated.stderr
    assert f"the SQLite database {database}" in migrated.stderr
    assert database.is_file()
    assert list(elsewhere.iterdir()) == []  # no fresh, empty database made here


async def test_backup_copies_a_sqlite_database_in_use_with_its_write_ahead_log(
    services: Services, web_server: str, env: dict[str, str], tmp_path: Path
) -> None:
    """While the process that linked a member still has the database open (its last writes
    still in the WAL), `backup` writes a copy that holds them."""
    await link_member(services, DISCORD_ID, "frank_x")
    database = Path(services.settings.database_url.split("///", 1)[1])
    wal = await asyncio.to_thread(os.path.getsize, f"{database}-wal")
    assert wal > 0  # what a copy of the .db file alone could miss

    copy = tmp_path / "backup.db"
    finished = await tweetlink(tmp_path, env, "backup", str(copy))
    assert finished.returncode == 0, finished.stderr
    assert f"to {copy}" in finished.stdout
    with contextlib.closing(sqlite3.connect(copy)) as copied:
        rows = copied.execute("SELECT discord_user_id, screen_name FROM linked_accounts").fetchall()
    assert rows == [(DISCORD_ID, "frank_x")]

    again = await tweetlink(tmp_path, env, "backup", str(copy))
    assert again.returncode == 1
    assert "already exists" in again.stderr
    on_postgresql = {**env, "DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1/test"}
    refused = await tweetlink(tmp_path, on_postgresql, "backup", str(tmp_path / "pg.db"))
    assert refused.returncode == 1
    assert "pg_dump" in refused.stderr


async def test_keys_rotate_lets_the_old_key_go(
    services: Services,
    web_server: str,
    env: dict[str, str],
    tmp_path: Path,
    fake_twitter: FakeTwitter,
) -> None:
    """After `keys rotate` with a new key first, the old key can be removed: a member's link
    still revokes at X on unlink, and a flow waiting for its code still confirms. Running it
    again is harmless."""
    old_key = services.settings.encryption_keys()[0]
    await link_member(services, DISCORD_ID, "gina_x")
    waiting = await services.links.start(DISCORD_ID + 1, "hank")
    async with aiohttp.ClientSession() as http:
        page = await MemberBrowser(http).authorize(
            services.settings.link_url(waiting.intent_id), username="hank_x"
        )

    new_key = Sealer.generate_key()
    rotating = {**env, "TOKEN_ENCRYPTION_KEYS": f"{new_key},{old_key}"}
    for _ in range(2):
        rotated = await tweetlink(tmp_path, rotating, "keys", "rotate")
        assert rotated.returncode == 0, rotated.stderr
        assert "linked_accounts: 1 row(s) re-sealed" in rotated.stdout
        assert "link_intents: 1 row(s) re-sealed" in rotated.stdout

    settings = services.settings
    new_only = LinkService(
        services.sessions,
        Sealer([new_key]),
        services.twitter,
        callback_url=settings.callback_url,
        intent_ttl=timedelta(seconds=settings.link_intent_ttl_seconds),
        code_ttl=timedelta(seconds=settings.confirmation_code_ttl_seconds),
        code_attempts=settings.confirmation_code_attempts,
    )
    assert (await new_only.unlink(DISCORD_ID)).revoked_at_twitter
    assert len(fake_twitter.invalidated_tokens) == 1
    assert (await new_only.confirm(DISCORD_ID + 1, page.code)).screen_name == "hank_x"
