"""Running tweetlink's command line as a real process, as an operator would."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from core.config import Settings


@dataclass(frozen=True)
class Finished:
    """A finished command: its exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str


def environment_of(settings: Settings) -> dict[str, str]:
    """The settings as the environment variables an operator would set."""
    env = {key: value for key, value in os.environ.items() if not key.isupper() or key == "PATH"}
    env.update(
        DISCORD_TOKEN=settings.discord_token.get_secret_value() if settings.discord_token else "",
        TWITTER_CONSUMER_KEY=settings.twitter_consumer_key,
        TWITTER_CONSUMER_SECRET=settings.twitter_consumer_secret.get_secret_value(),
        PUBLIC_URL=settings.public_url,
        DATABASE_URL=settings.database_url,
        TOKEN_ENCRYPTION_KEYS=",".join(settings.encryption_keys()),
        TWITTER_API_BASE=settings.twitter_api_base,
    )
    return env


async def tweetlink(
    cwd: Path, env: dict[str, str], *args: str, module: str = "tweetlink"
) -> Finished:
    """Run `tweetlink ARGS…` (as `python -m module`) in `cwd`, where there is no .env, and wait
    for it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return Finished(process.returncode, stdout.decode(), stderr.decode())
