"""Shards spread over bot processes: each runs the shards it is given, one syncs the commands."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest

from core.config import Settings
from tests.fakes.discord import FakeDiscord, FakeGuild
from tests.support.member_browser import link_member
from tests.support.processes import environment_of
from tests.support.tweetlink_on_fake_discord import MODULE as TWEETLINK_ON_FAKE_DISCORD
from tests.support.tweetlink_on_fake_discord import fake_discord_environment
from tweetlink import cli
from tweetlink.services import Services

SHARD_COUNT = 4


@asynccontextmanager
async def bot_process(
    env: dict[str, str], cwd: Path, *args: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`tweetlink bot ARGS…` on the fake Discord; killed at the end, its stderr checked."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        TWEETLINK_ON_FAKE_DISCORD,
        "bot",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        _, stderr = await process.communicate()
        assert "Traceback" not in stderr.decode(), stderr.decode()


def guilds_on_every_shard(fake: FakeDiscord) -> dict[int, FakeGuild]:
    """A guild on each shard: Discord puts a guild on shard (id >> 22) % shard count."""
    by_shard: dict[int, FakeGuild] = {}
    while len(by_shard) < SHARD_COUNT:
        guild = fake.add_guild(f"Server {len(fake.guilds)}")
        by_shard.setdefault((guild.id >> 22) % SHARD_COUNT, guild)
    return by_shard


async def test_two_bot_processes_of_two_shards_answer_every_shard(
    settings: Settings, services: Services, web_server: str, tmp_path: Path
) -> None:
    """Shards 0,1 in one process and 2,3 in another, on one database: every server's commands
    are answered, from what either process reads, and the commands are synced once."""
    async with FakeDiscord(wait_timeout=30) as fake, AsyncExitStack() as processes:
        alice = fake.add_user("alice")
        await link_member(services, alice.id, "alice_x")
        guilds = guilds_on_every_shard(fake)
        for guild in guilds.values():
            guild.add_member(alice)
        env = {**environment_of(settings), **fake_discord_environment(fake)}
        for ids in ("0,1", "2,3"):
            shards = ("--shard-ids", ids, "--shard-count", str(SHARD_COUNT))
            await processes.enter_async_context(bot_process(env, tmp_path, *shards))

        await fake.wait(
            lambda: True if len([s for s in fake.gateway.sessions if s.ready]) == 4 else None,
            "four shards connected",
        )
        await fake.wait_for(lambda r: r.method == "PUT" and r.path.endswith("/commands"))
        shards = sorted(tuple(identify["shard"]) for identify in fake.identifies)
        assert shards == [(shard, SHARD_COUNT) for shard in range(SHARD_COUNT)]

        for guild in guilds.values():
            command = await fake.slash_command(alice, "twitter-account", guild=guild)
            answer = await command.wait_response()
            assert "@alice_x" in (answer.content or "")

        syncs = [r for r in fake.requests if r.method == "PUT" and r.path.endswith("/commands")]
        assert len(syncs) == 1


@pytest.mark.parametrize(
    ("shard_options", "named"),
    [
        (
            ["--shard-ids", "0,1"],
            "--shard-ids needs --shard-count (the shards of every bot process)",
        ),
        (
            ["--shard-ids", "2,4", "--shard-count", "4"],
            "--shard-ids must be below --shard-count 4 (ids start at 0)",
        ),
    ],
)
@pytest.mark.parametrize("command", ["bot", "run"])
def test_shards_that_cannot_be_run_are_named_in_one_line(
    command: str, shard_options: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([command, *shard_options])
    assert exited.value.code == 1
    assert capsys.readouterr().err.splitlines() == [f"tweetlink: {named}"]
