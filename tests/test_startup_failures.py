"""An operator's first-day mistakes, each run as a real process: exit status 1, no traceback,
and at most three lines of stderr that name the setting or the address to fix."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Settings
from tests.fakes.discord import FakeDiscord
from tests.support.processes import Finished, environment_of, tweetlink
from tests.support.tweetlink_on_fake_discord import MODULE as TWEETLINK_ON_FAKE_DISCORD
from tests.support.tweetlink_on_fake_discord import fake_discord_environment

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

NO_ASYNCPG = Path(__file__).parent / "data" / "no_asyncpg"
# Nothing listens on port 1 of loopback: connections to it are refused at once.
REFUSING = "127.0.0.1:1"


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    return environment_of(settings)


def assert_one_clear_line(finished: Finished, *named: str) -> None:
    lines = finished.stderr.strip().splitlines()
    assert finished.returncode == 1, finished
    assert "Traceback" not in finished.stderr
    assert 1 <= len(lines) <= 3, lines
    for name in named:
        assert name in lines[-1], lines


async def test_every_missing_setting_is_named_at_once(env: dict[str, str], tmp_path: Path) -> None:
    for name in (
        "DISCORD_TOKEN",
        "TWITTER_CONSUMER_KEY",
        "TWITTER_CONSUMER_SECRET",
        "TOKEN_ENCRYPTION_KEYS",
    ):
        del env[name]
    finished = await tweetlink(tmp_path, env, "run")
    assert_one_clear_line(
        finished,
        "DISCORD_TOKEN, TWITTER_CONSUMER_KEY, TWITTER_CONSUMER_SECRET and TOKEN_ENCRYPTION_KEYS "
        "are not set",
    )


@pytest.mark.parametrize("command", ["web", "migrate"])
@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aoisqlite:///./data/tweetlink.db",
        "postgres://postgres@127.0.0.1/test",
        "sqlite:///./data/tweetlink.db",
        "tweetlink.db",
    ],
)
async def test_a_mistyped_database_url_names_the_accepted_forms(
    env: dict[str, str], tmp_path: Path, command: str, url: str
) -> None:
    env["DATABASE_URL"] = url
    finished = await tweetlink(tmp_path, env, command)
    assert_one_clear_line(finished, "DATABASE_URL", "sqlite+aiosqlite:///", "postgresql+asyncpg://")


@pytest.mark.parametrize(
    "command",
    [
        ["web"],
        ["migrate"],
        ["accounts", "list"],
        ["accounts", "show", "1234"],
        ["audit"],
        ["usage"],
        ["link", "start", "1234"],
    ],
    ids=" ".join,
)
async def test_postgresql_not_answering_names_its_address(
    env: dict[str, str], tmp_path: Path, command: list[str]
) -> None:
    env["DATABASE_URL"] = f"postgresql+asyncpg://postgres:hunter2@{REFUSING}/test"
    finished = await tweetlink(tmp_path, env, *command)
    assert_one_clear_line(finished, REFUSING, "DATABASE_URL")
    assert "hunter2" not in finished.stderr


async def test_check_names_the_database_that_does_not_answer(
    env: dict[str, str], tmp_path: Path
) -> None:
    env["DATABASE_URL"] = f"postgresql+asyncpg://postgres:hunter2@{REFUSING}/test"
    finished = await tweetlink(tmp_path, env, "check")
    assert finished.returncode == 1
    assert "Traceback" not in finished.stderr
    [database] = [line for line in finished.stdout.splitlines() if line.startswith("database:")]
    assert REFUSING in database
    assert "DATABASE_URL" in database
    assert "hunter2" not in finished.stdout + finished.stderr


async def test_a_postgresql_url_without_asyncpg_says_how_to_install_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    env["DATABASE_URL"] = "postgresql+asyncpg://postgres@127.0.0.1/test"
    env["PYTHONPATH"] = str(NO_ASYNCPG)
    finished = await tweetlink(tmp_path, env, "migrate")
    assert_one_clear_line(finished, "DATABASE_URL", "asyncpg", ".[postgres]")


async def test_a_database_directory_that_cannot_be_made_is_named(
    env: dict[str, str], tmp_path: Path
) -> None:
    env["DATABASE_URL"] = "sqlite+aiosqlite:////proc/tweetlink/tweetlink.db"
    for command in ("web", "migrate"):
        finished = await tweetlink(tmp_path, env, command)
        assert_one_clear_line(finished, "/proc/tweetlink", "DATABASE_URL")


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


async def test_a_web_port_in_use_is_named(
    env: dict[str, str], tmp_path: Path, busy_port: int
) -> None:
    env["WEB_PORT"] = str(busy_port)
    assert (await tweetlink(tmp_path, env, "migrate")).returncode == 0
    finished = await tweetlink(tmp_path, env, "web")
    assert_one_clear_line(finished, f"port {busy_port}", "WEB_PORT")


async def test_a_web_host_that_does_not_resolve_is_named(
    env: dict[str, str], tmp_path: Path
) -> None:
    env["WEB_HOST"] = "no-such-host.invalid"
    assert (await tweetlink(tmp_path, env, "migrate")).returncode == 0
    finished = await tweetlink(tmp_path, env, "web")
    assert_one_clear_line(finished, "WEB_HOST", "no-such-host.invalid")


@pytest.mark.parametrize("command", ["run", "bot"])
async def test_discord_unreachable_names_discord_and_its_address(
    env: dict[str, str], tmp_path: Path, fake_discord: FakeDiscord, command: str
) -> None:
    env.update(fake_discord_environment(fake_discord))
    env["FAKE_DISCORD_API_BASE"] = f"http://{REFUSING}/api/v10"
    assert (await tweetlink(tmp_path, env, "migrate")).returncode == 0
    finished = await tweetlink(tmp_path, env, command, module=TWEETLINK_ON_FAKE_DISCORD)
    assert_one_clear_line(finished, "Discord", REFUSING)
