"""`tweetlink db copy --to URL`, run as a real process: from SQLite into an empty SQLite or
PostgreSQL database, the sealed tokens still opening there with the same keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.audit import Actor
from core.clock import utcnow
from core.config import Settings
from core.models import DiscordSignIn, RoleConnection
from core.tweets import Where
from tests.conftest import DATABASES, POSTGRES_URL
from tests.fakes.twitter import FakeTwitter
from tests.support.member_browser import link_member
from tests.support.postgres import throwaway_database
from tests.support.processes import Finished, environment_of, tweetlink
from tweetlink.db_copy import TABLES
from tweetlink.services import Services

MEMBER = 555_555_555_555_555_555
GUILD = 666_666_666_666_666_666
WHERE = Where(member_id=MEMBER, guild_id=GUILD, channel_id=1)

# The source is SQLite, as a community moving to PostgreSQL has it; the target varies.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    return environment_of(settings)


@pytest.fixture(params=DATABASES)
async def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database to copy into: a new SQLite file, or a throwaway PostgreSQL database
    on TEST_DATABASE_URL's server, dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'copy.db'}"
        return
    assert POSTGRES_URL is not None
    async with throwaway_database(POSTGRES_URL) as url:
        yield url


def counts(finished: Finished) -> dict[str, tuple[int, int]]:
    """`TABLE: N in source, N in target` lines, by table."""
    counted = {}
    for line in finished.stdout.splitlines():
        table, numbers = line.split(": ")
        source, target = numbers.split(", ")
        counted[table] = (
            int(source.removesuffix(" in source")),
            int(target.removesuffix(" in target")),
        )
    return counted


async def add_linked_role_rows(services: Services) -> None:
    """A member's Linked Roles grant and a sign-in under way (Linked Roles are off here)."""
    now, seal = utcnow(), services.sealer.seal
    async with services.sessions.begin() as session:
        session.add(DiscordSignIn(state_hash="s" * 64, browser_hash="b" * 64, expires_at=now))
        session.add(
            RoleConnection(
                discord_user_id=MEMBER,
                access_token_sealed=seal("discord-access"),
                refresh_token_sealed=seal("discord-refresh"),
                expires_at=now,
                updated_at=now,
            )
        )


def one_line_failure(finished: Finished) -> str:
    """The failure's one line (after the line that says where the settings come from)."""
    assert finished.returncode == 1
    assert "Traceback" not in finished.stderr
    [line] = [line for line in finished.stderr.splitlines() if line.startswith("tweetlink: ")]
    assert finished.stderr.endswith(f"{line}\n")
    return line


async def test_copy_keeps_every_row_and_the_sealed_tokens_open_there(
    services: Services,
    web_server: str,
    fake_twitter: FakeTwitter,
    env: dict[str, str],
    target_url: str,
    tmp_path: Path,
) -> None:
    """Every table arrives whole; on the copy, unlinking the member revokes their token at X
    (it opens with the same keys) and writes an audit row (new ids follow the copied ones).
    A second copy into the now full target is refused."""
    await link_member(services, MEMBER, "ada_x")
    await services.tweets.post((await services.tweets.prepare(WHERE, "first")).id, WHERE)
    await services.tweets.prepare(WHERE, "a draft left waiting")
    await services.policy.update(Actor.command_line(), GUILD, daily_cap=5)
    await services.policy.block(Actor.command_line(), GUILD, MEMBER + 1, reason="spam")
    await add_linked_role_rows(services)

    copied = await tweetlink(tmp_path, env, "db", "copy", "--to", target_url)

    assert copied.returncode == 0, copied.stderr
    counted = counts(copied)
    assert set(counted) == {table.name for table in TABLES}
    assert all(source == target > 0 for source, target in counted.values()), counted

    again = await tweetlink(tmp_path, env, "db", "copy", "--to", target_url)
    assert "already holds data" in one_line_failure(again)

    on_the_copy = {**env, "DATABASE_URL": target_url}
    unlinked = await tweetlink(tmp_path, on_the_copy, "accounts", "unlink", str(MEMBER))
    assert unlinked.returncode == 0, unlinked.stderr
    assert unlinked.stdout == f"Unlinked @ada_x from {MEMBER}\n"  # nothing about X unreachable
    assert len(fake_twitter.invalidated_tokens) == 1
    audit = await tweetlink(tmp_path, on_the_copy, "audit")
    assert [line.split("\t")[1] for line in audit.stdout.splitlines()] == [
        "unlink",
        "block",
        "settings",
    ]


async def test_an_unreachable_or_same_target_is_one_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    unreachable = "postgresql+asyncpg://postgres@127.0.0.1:1/x"
    refused = await tweetlink(tmp_path, env, "db", "copy", "--to", unreachable)
    assert "PostgreSQL at 127.0.0.1:1/x does not answer" in one_line_failure(refused)
    assert "check --to" in one_line_failure(refused)

    itself = await tweetlink(tmp_path, env, "db", "copy", "--to", env["DATABASE_URL"])
    assert "--to names the database being copied" in one_line_failure(itself)
