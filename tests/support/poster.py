"""Another bot process posting for a member: `python -m tests.support.poster`, driven by a test.

It prepares its drafts, says `ready`, waits for `go` on stdin (so that several processes press
Post at the same moment), presses Post on every draft at once, and prints what came of them as
JSON: {"posted": n, "refused": n, "other": [...]} (refused: by a cap or the cooldown). It has
its own engine, as a process would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import aiohttp

from core import errors
from core.db import create_engine, create_session_factory
from core.sealing import Sealer
from core.tweets import Limits, TweetService, Where
from core.twitter import TwitterClient
from tests.support.credentials import CONSUMER_KEY, CONSUMER_SECRET


@dataclass(frozen=True)
class Poster:
    """A running poster process, ready to be told to go."""

    process: asyncio.subprocess.Process

    async def go(self) -> dict[str, object]:
        """Let it press Post on all its drafts; what came of them."""
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")
        stdout, stderr = await asyncio.wait_for(self.process.communicate(), 60)
        assert self.process.returncode == 0, stderr.decode()
        answer: dict[str, object] = json.loads(stdout.decode().splitlines()[-1])
        return answer


async def start_poster(
    *,
    database_url: str,
    twitter_api_base: str,
    encryption_keys: Sequence[str],
    member: int,
    guild: int,
    drafts: int,
    member_daily_cap: int,
    cooldown_seconds: int = 0,
) -> Poster:
    """Start a poster process and wait until its drafts are ready."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.poster",
        "--",  # a Fernet key may begin with "-"
        database_url,
        twitter_api_base,
        ",".join(encryption_keys),
        str(member),
        str(guild),
        str(drafts),
        str(member_daily_cap),
        str(cooldown_seconds),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    ready = await asyncio.wait_for(process.stdout.readline(), 60)
    assert ready == b"ready\n", ready + (await process.communicate())[1]
    return Poster(process)


async def _main(arguments: argparse.Namespace) -> None:
    engine = create_engine(arguments.database_url)
    try:
        async with aiohttp.ClientSession() as http:
            tweets = TweetService(
                create_session_factory(engine),
                Sealer(arguments.keys.split(",")),
                TwitterClient(
                    http,
                    consumer_key=CONSUMER_KEY,
                    consumer_secret=CONSUMER_SECRET,
                    api_base=arguments.twitter_api_base,
                    timeout_seconds=10,
                ),
                limits=Limits(
                    timedelta(seconds=arguments.cooldown_seconds),
                    arguments.member_daily_cap,
                    10_000,
                ),
            )
            where = Where(arguments.member, arguments.guild, channel_id=1)
            drafts = [
                await tweets.prepare(where, f"from process {arguments.guild}, number {n}")
                for n in range(arguments.drafts)
            ]
            print("ready", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
            results = await asyncio.gather(
                *(tweets.post(draft.id, where) for draft in drafts), return_exceptions=True
            )
    finally:
        await engine.dispose()
    limit_refusals = (errors.DailyCapReached, errors.TweetCooldown)
    refused = [r for r in results if isinstance(r, limit_refusals)]
    other = [repr(r) for r in results if isinstance(r, BaseException) and r not in refused]
    posted = len(results) - len(refused) - len(other)
    print(json.dumps({"posted": posted, "refused": len(refused), "other": other}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for name in ("database_url", "twitter_api_base", "keys"):
        parser.add_argument(name)
    for name in ("member", "guild", "drafts", "member_daily_cap", "cooldown_seconds"):
        parser.add_argument(name, type=int)
    asyncio.run(_main(parser.parse_args()))
