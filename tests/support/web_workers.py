"""Several `tweetlink web` processes on one database, as a deployment behind a load balancer
runs them: started, polled until /healthz answers, stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp

STARTUP_SECONDS = 30.0
STOP_SECONDS = 10.0


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class WebWorker:
    """One running `tweetlink web` process; its stdout and stderr go to `log_path`."""

    url: str
    process: asyncio.subprocess.Process
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def stop(self) -> int:
        """SIGTERM, as an orchestrator stops it (killed after STOP_SECONDS); its exit code."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_SECONDS)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        assert self.process.returncode is not None
        return self.process.returncode


def on_worker(url: str, worker: WebWorker) -> str:
    """`url` with its scheme and host:port swapped for the worker's: the load balancer's pick."""
    parts = urlsplit(url)
    base = urlsplit(worker.url)
    return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, parts.fragment))


@asynccontextmanager
async def web_workers(
    env: dict[str, str], count: int, directory: Path, *, public_url: str | None = None
) -> AsyncIterator[list[WebWorker]]:
    """`count` workers with `env` (the same DATABASE_URL for all), each on a port of its own,
    started in `directory` (where there is no .env). PUBLIC_URL is `public_url`, by default the
    first worker's: X sends every browser back there, and a test may move a callback elsewhere
    with `on_worker`. Each is stopped at the end if the caller did not stop it."""
    ports = [free_port() for _ in range(count)]
    public_url = public_url or f"http://127.0.0.1:{ports[0]}"
    async with AsyncExitStack() as stack:
        workers = []
        for n, port in enumerate(ports):
            worker = await start_web_worker(env, port, public_url, directory / f"web-{n}.log")
            stack.push_async_callback(worker.stop)
            workers.append(worker)
        await asyncio.gather(*(until_healthy(worker) for worker in workers))
        yield workers


async def start_web_worker(
    env: dict[str, str], port: int, public_url: str, log_path: Path
) -> WebWorker:
    """Start one `tweetlink web` on `port` (its output appended to `log_path`); not waited for."""
    with log_path.open("ab") as log_file:  # the process keeps its own copy of the file
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tweetlink",
            "web",
            cwd=log_path.parent,
            env=env | {"WEB_PORT": str(port), "PUBLIC_URL": public_url},
            stdout=log_file,
            # A file, not a pipe: a pipe nobody reads would stop a chatty worker mid-run.
            stderr=asyncio.subprocess.STDOUT,
        )
    return WebWorker(f"http://127.0.0.1:{port}", process, log_path)


async def until_healthy(worker: WebWorker) -> None:
    """Ask /healthz until it answers 200, or fail at the deadline or when the process exits."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_SECONDS
    async with aiohttp.ClientSession() as http:
        while True:
            if worker.process.returncode is not None:
                raise RuntimeError(
                    f"tweetlink web exited with {worker.process.returncode}:\n{worker.log}"
                )
            try:
                async with http.get(f"{worker.url}/healthz") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            if loop.time() > deadline:
                raise RuntimeError(f"tweetlink web did not answer at {worker.url}:\n{worker.log}")
            await asyncio.sleep(0.05)
