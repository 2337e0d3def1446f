"""deploy/ and docs/deploy.md: the systemd units, the Caddyfile and the walk-through agree with
the CLI, with the tools that read them (where installed), and run here as far as they can
without root, systemd or a public host."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy.engine import make_url

from core.config import ENV_FILE_VARIABLE, Settings
from tests.conftest import POSTGRES_URL
from tests.fakes.discord import FakeDiscord
from tests.fakes.twitter import FakeTwitter
from tests.support.credentials import CONSUMER_KEY, CONSUMER_SECRET
from tests.support.postgres import throwaway_database
from tests.support.processes import tweetlink
from tests.support.tweetlink_on_fake_discord import MODULE as TWEETLINK_ON_FAKE_DISCORD
from tests.support.tweetlink_on_fake_discord import fake_discord_environment
from tests.support.web_workers import WebWorker, free_port, until_healthy
from tweetlink import cli

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DOC = ROOT / "docs" / "deploy.md"
CADDYFILE = DEPLOY / "Caddyfile"
INSTALLED = "/opt/tweetlink/.venv/bin/tweetlink"
ENV_FILE = "/etc/tweetlink/tweetlink.env"
STATE = "/var/lib/tweetlink"
UNITS = ("tweetlink.service", "tweetlink-web@.service", "tweetlink-bot@.service")
SHARD_COUNT = 2
TOOL_SECONDS = 120


def _directives(unit: str) -> dict[str, list[tuple[str, str]]]:
    """A unit file's sections, each a list of (key, value) in order: systemd's keys repeat."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    pending = ""
    for raw in (DEPLOY / unit).read_text().splitlines():
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"{unit}: {line!r} is outside a section"
        key, equals, value = line.partition("=")
        assert equals, f"{unit}: {line!r} is not KEY=VALUE"
        current.append((key.strip(), value.strip()))
    return sections


def _values(unit: str, key: str, section: str = "Service") -> list[str]:
    return [value for name, value in _directives(unit).get(section, []) if name == key]


def _one(unit: str, key: str, section: str = "Service") -> str:
    values = _values(unit, key, section)
    assert len(values) == 1, f"{unit}: {key}= is set {len(values)} times"
    return values[0]


def _command(line: str, instance: str) -> tuple[dict[str, str], list[str]]:
    """An Exec line as systemd runs it for `instance`: the variables env(1) sets, and argv."""
    line = line.lstrip("-@:+!").replace("%i", instance)
    line = line.replace("${SHARD_COUNT}", str(SHARD_COUNT))
    argv = shlex.split(line)
    env: dict[str, str] = {}
    if argv[0] == "/usr/bin/env":
        argv.pop(0)
        while "=" in argv[0]:
            name, _, value = argv.pop(0).partition("=")
            env[name] = value
    return env, argv


def _tweetlink_args(argv: list[str]) -> list[str]:
    assert argv[0] == INSTALLED, f"{argv[0]} is not {INSTALLED}"
    return argv[1:]


# --- the units -------------------------------------------------------------------------------

UNIT_COMMANDS = [
    ("tweetlink.service", "ExecStartPre", "", cli._migrate),
    ("tweetlink.service", "ExecStart", "", cli._run),
    ("tweetlink-web@.service", "ExecStart", "8081", cli._web),
    ("tweetlink-bot@.service", "ExecStart", "0", cli._bot),
    ("tweetlink-bot@.service", "ExecStart", "1", cli._bot),
]


@pytest.mark.parametrize(("unit", "key", "instance", "handler"), UNIT_COMMANDS)
def test_each_unit_command_is_a_tweetlink_command(
    unit: str, key: str, instance: str, handler: object
) -> None:
    [line] = _values(unit, key)
    _, argv = _command(line, instance)
    args = cli._parser().parse_args(_tweetlink_args(argv))
    assert args.handler is handler
    assert args.env_file == ENV_FILE
    if handler is cli._bot:
        assert args.shard_ids == [int(instance)]
        assert args.shard_count == SHARD_COUNT
        cli._shards_of(args)  # ids below the count


def test_only_the_one_machine_unit_migrates() -> None:
    """Upgrades of the workers and shards migrate once, by hand, before restarting them."""
    assert _values("tweetlink-web@.service", "ExecStartPre") == []
    assert _values("tweetlink-bot@.service", "ExecStartPre") == []
    assert len(_values("tweetlink.service", "ExecStartPre")) == 1


@pytest.mark.parametrize("unit", UNITS)
def test_units_share_the_layout_and_the_shutdown(unit: str) -> None:
    assert _one(unit, "User") == "tweetlink"
    assert _one(unit, "WorkingDirectory") == "/opt/tweetlink"
    assert _one(unit, "ReadWritePaths") == STATE
    assert _one(unit, "ProtectSystem") == "strict"
    assert _one(unit, "NoNewPrivileges") == "yes"
    assert _one(unit, "ProtectHome") == "yes"
    assert _one(unit, "PrivateTmp") == "yes"
    assert _one(unit, "Restart") == "on-failure"
    assert _one(unit, "KillSignal") == "SIGTERM"
    # The bot finishes the posts under way within 10 s of SIGTERM.
    assert int(_one(unit, "TimeoutStopSec")) >= 20
    assert _one(unit, "WantedBy", "Install") == "multi-user.target"


def test_the_web_port_reaches_each_worker() -> None:
    """systemd's EnvironmentFile= wins over Environment=: the file's WEB_PORT=8080 would put
    every worker on one port. The web unit passes the settings file to tweetlink instead."""
    unit = "tweetlink-web@.service"
    assert "WEB_PORT=%i" in _values(unit, "Environment")
    assert _values(unit, "EnvironmentFile") == []


def test_each_shard_has_its_own_metrics_port() -> None:
    """The bot unit needs EnvironmentFile= for ${SHARD_COUNT}, which would override an
    Environment=METRICS_PORT, so env(1) sets it on the command line, where it wins."""
    unit = "tweetlink-bot@.service"
    assert _values(unit, "EnvironmentFile") == [ENV_FILE]
    [line] = _values(unit, "ExecStart")
    ports = [int(_command(line, str(shard))[0]["METRICS_PORT"]) for shard in range(10)]
    assert len(set(ports)) == 10
    assert all(1024 <= port <= 65535 for port in ports)
    web_ports = set(_caddy_upstream_ports())
    assert not web_ports & set(ports)


def test_tweetlink_reads_the_environment_over_the_settings_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the two templated units rely on: WEB_PORT and METRICS_PORT in the environment win
    over the values in the file named by --env-file."""
    env_file = tmp_path / "tweetlink.env"
    values = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'tweetlink.db'}",
        "DISCORD_TOKEN": "a-token",
        "TWITTER_CONSUMER_KEY": CONSUMER_KEY,
        "TWITTER_CONSUMER_SECRET": CONSUMER_SECRET,
    }
    env_file.write_text(_settings_text(cli.Sealer.generate_key(), values))
    for name in _setting_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(ENV_FILE_VARIABLE, str(env_file))
    monkeypatch.setenv("WEB_PORT", "8081")
    monkeypatch.setenv("METRICS_PORT", "9181")
    settings = cli.load_settings(runs_the_bot=True)
    assert (settings.web_port, settings.metrics_port) == (8081, 9181)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is missing")
def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    """`systemd-analyze verify` on copies whose tweetlink is this virtualenv's (it checks that
    each command exists); the templates are verified through an instance, which it loads from
    the template beside it. It does not look up User=, so the missing `tweetlink` user is not
    its concern here."""
    here = Path(sys.executable).with_name("tweetlink")
    assert here.is_file(), "the tweetlink console script is not installed beside python"
    for unit in UNITS:
        text = (DEPLOY / unit).read_text()
        assert INSTALLED in text
        (tmp_path / unit).write_text(text.replace(INSTALLED, str(here)))
    instances = ["tweetlink.service", "tweetlink-web@8080.service", "tweetlink-bot@0.service"]
    output = _verify(tmp_path, instances)
    assert output.returncode == 0, output.stdout + output.stderr
    complaints = [
        line for line in (output.stdout + output.stderr).splitlines() if "tweetlink" in line
    ]
    assert complaints == []

    # The check can fail: an unknown key is only a warning, still exit 0, and it is seen.
    broken = (tmp_path / "tweetlink.service").read_text().replace("[Service]", "[Service]\nNo=1")
    (tmp_path / "tweetlink-broken.service").write_text(broken)
    output = _verify(tmp_path, ["tweetlink-broken.service"])
    assert "tweetlink-broken.service" in output.stdout + output.stderr


def _verify(directory: Path, units: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        ["systemd-analyze", "verify", *(str(directory / unit) for unit in units)],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=TOOL_SECONDS,
        check=False,
    )


# --- the Caddyfile ---------------------------------------------------------------------------


def _caddy_upstream_ports() -> list[int]:
    [upstreams] = re.findall(r"reverse_proxy\s+([^{\n]+)\{", CADDYFILE.read_text())
    return [int(address.rpartition(":")[2]) for address in upstreams.split()]


def test_the_caddyfile_hides_metrics_and_balances_the_workers() -> None:
    text = CADDYFILE.read_text()
    assert re.search(r"handle\s+/metrics\*?\s*\{\s*respond\s+404\s*\}", text)
    assert re.search(r"^\s*lb_policy\s+round_robin\s*$", text, re.M)
    assert re.search(r"^\s*health_uri\s+/healthz\s*$", text, re.M)
    # `tweetlink run` listens on the default WEB_PORT; the doc starts a web worker on each.
    assert Settings.model_fields["web_port"].default in _caddy_upstream_ports()
    started = {int(port) for port in re.findall(r"tweetlink-web@(\d+)", _doc_code())}
    assert set(_caddy_upstream_ports()) == started


@pytest.mark.skipif(shutil.which("caddy") is None, reason="caddy is missing")
def test_caddy_validates_the_caddyfile(tmp_path: Path) -> None:
    output = subprocess.run(  # noqa: S603
        ["caddy", "validate", "--config", str(CADDYFILE), "--adapter", "caddyfile"],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=TOOL_SECONDS,
        check=False,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)},
    )
    assert output.returncode == 0, output.stdout + output.stderr
    assert "Valid configuration" in output.stdout + output.stderr


@pytest.mark.skipif(shutil.which("caddy") is None, reason="caddy is missing")
async def test_caddy_serves_the_pages_and_hides_metrics(tmp_path: Path) -> None:
    """The Caddyfile run for real, on plain HTTP at a loopback port instead of HTTPS at the
    public host (no certificate without one), in front of a stand-in for the web workers:
    pages and /healthz pass through, /metrics is 404 and never reaches them."""
    seen: list[str] = []

    async def upstream(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response(text=f"upstream {request.path}")

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", upstream)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    worker_port, caddy_port = free_port(), free_port()
    await web.TCPSite(runner, "127.0.0.1", worker_port).start()
    text = CADDYFILE.read_text().replace("tweetlink.example.org", f"http://127.0.0.1:{caddy_port}")
    for port in _caddy_upstream_ports():
        text = text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{worker_port}")
    config = tmp_path / "Caddyfile"
    config.write_text("{\n\tadmin off\n}\n" + text)
    caddy = await asyncio.create_subprocess_exec(
        "caddy",
        "run",
        "--config",
        str(config),
        "--adapter",
        "caddyfile",
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{caddy_port}") as http:
            deadline = asyncio.get_running_loop().time() + TOOL_SECONDS
            while True:
                try:
                    async with http.get("/healthz") as answer:
                        if answer.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                assert asyncio.get_running_loop().time() < deadline, "caddy never answered"
                await asyncio.sleep(0.1)
            async with http.get("/link/abc") as answer:
                assert (answer.status, await answer.text()) == (200, "upstream /link/abc")
            for hidden in ("/metrics", "/metrics/anything"):
                async with http.get(hidden) as answer:
                    assert answer.status == 404
    finally:
        caddy.terminate()
        await caddy.wait()
        await runner.cleanup()
    assert not [path for path in seen if path.startswith("/metrics")]


# --- docs/deploy.md --------------------------------------------------------------------------

CODE_BLOCK = re.compile(r"^[ \t]*```sh\n(.*?)^[ \t]*```", re.M | re.S)
SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")


def _doc_code() -> str:
    blocks = (textwrap.dedent(block) for block in CODE_BLOCK.findall(DOC.read_text()))
    return "\n".join(blocks).replace("\\\n", " ")


def _doc_commands() -> list[list[str]]:
    """The arguments of every `tweetlink` run in the doc's code blocks, in order, those inside
    `$(…)` first; `$(…)` itself becomes SUBST."""
    commands = []
    for line in _doc_code().splitlines():
        inner = []
        while match := SUBSTITUTION.search(line):
            inner.append(match.group(1))
            line = line[: match.start()] + "SUBST" + line[match.end() :]
        for piece in [*inner, line]:
            lexer = shlex.shlex(piece, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            tokens = list(lexer)
            for at, token in enumerate(tokens):
                if token.endswith("/tweetlink") and "bin" in token:
                    rest = tokens[at + 1 :]
                    ends = [n for n, word in enumerate(rest) if set(word) <= set("();<>|&")]
                    commands.append(_tweetlink_args([token, *rest[: min(ends, default=None)]]))
    return commands


DOC_COMMANDS = _doc_commands()


@pytest.mark.parametrize("args", DOC_COMMANDS, ids=[" ".join(args) for args in DOC_COMMANDS])
def test_every_tweetlink_command_in_the_doc_parses(args: list[str]) -> None:
    try:
        parsed = cli._parser().parse_args(args)
    except SystemExit:
        pytest.fail(f"`tweetlink {' '.join(args)}` from docs/deploy.md does not parse")
    if parsed.handler is not cli._keygen:  # keygen reads no settings
        assert parsed.env_file == ENV_FILE
    if parsed.handler is cli._backup:
        assert str(parsed.path).startswith(f"{STATE}/")


def test_the_doc_names_files_that_exist() -> None:
    text = DOC.read_text()
    for path in re.findall(r"/opt/tweetlink/((?:deploy|docs)/[\w@.\-]+)", text):
        assert (ROOT / path).is_file(), path
    for unit in set(re.findall(r"\b(tweetlink-(?:web|bot))@\d+", text)):
        assert (DEPLOY / f"{unit}@.service").is_file(), unit
    # One bot instance per shard id below SHARD_COUNT.
    [count] = re.findall(r"SHARD_COUNT=(\d+)", _doc_code())
    shards = {int(shard) for shard in re.findall(r"tweetlink-bot@(\d+)", _doc_code())}
    assert shards == set(range(int(count)))
    # The doc's SQLite database lies where the units may write.
    [url] = re.findall(r"DATABASE_URL=(sqlite\+aiosqlite:///[^|\"'\s]+)", _doc_code())
    assert url.removeprefix("sqlite+aiosqlite:///").startswith(f"{STATE}/")


def test_the_doc_lists_the_metrics_the_code_exports() -> None:
    from core import metrics

    exported = {
        metric._name
        for metric in vars(metrics).values()
        if isinstance(metric, metrics.Counter | metrics.Histogram)
    }
    listed = set(re.findall(r"^\| `(tweetlink_\w+)`", DOC.read_text(), re.M))
    assert {name.removesuffix("_total") for name in listed} == exported


# --- following the doc here ------------------------------------------------------------------


def _setting_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields} | {ENV_FILE_VARIABLE, "SHARD_COUNT"}


FOLLOWED = (cli._keygen, cli._migrate, cli._check, cli._backup, cli._db_copy)


def _settings_text(key: str, values: dict[str, str]) -> str:
    """.env.example with a key and what the doc's sed and editor steps put in it."""
    text = (ROOT / ".env.example").read_text()
    for name, value in {"TOKEN_ENCRYPTION_KEYS": key, **values}.items():
        text, found = re.subn(rf"^{name}=.*$", f"{name}={value}", text, flags=re.M)
        assert found == 1, name
    return text


async def test_following_the_doc(
    fake_twitter: FakeTwitter, fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    """The doc's tweetlink commands in order, as written, with /etc/tweetlink and
    /var/lib/tweetlink under tmp_path, X and Discord our fakes, and `db copy` into a new
    database (PostgreSQL, as the doc says, where there is one): keygen, the settings file,
    migrate, check, backup, db copy, the second check; then a web worker started as its unit
    starts it, answering /healthz and /metrics and exiting 0 on SIGTERM. Once, not on each
    database: each command is a process of its own, some 3 s to start."""
    target = "postgresql" if POSTGRES_URL else "sqlite"
    state, env_file = tmp_path / "var-lib-tweetlink", tmp_path / "tweetlink.env"
    state.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in _setting_names()}
    env.update(fake_discord_environment(fake_discord))
    del env["DISCORD_TOKEN"]  # from the settings file, as on the machine

    async with AsyncExitStack() as stack:
        if target == "sqlite":
            copy_url = f"sqlite+aiosqlite:///{tmp_path / 'copy.db'}"
        else:
            assert POSTGRES_URL is not None
            copy_url = await stack.enter_async_context(throwaway_database(POSTGRES_URL))
        doc_copy_url = re.search(r"--to (\S+)", _doc_code())
        assert doc_copy_url is not None

        def here(arg: str) -> str:
            arg = arg.replace(doc_copy_url[1], copy_url)
            return arg.replace(ENV_FILE, str(env_file)).replace(STATE, str(state))

        ran = []
        for args in DOC_COMMANDS:
            command = cli._parser().parse_args(args).handler
            if command not in FOLLOWED:
                continue
            finished = await tweetlink(
                tmp_path, env, *map(here, args), module=TWEETLINK_ON_FAKE_DISCORD
            )
            if command is cli._backup and cli._db_copy in ran and target == "postgresql":
                assert "use pg_dump" in finished.stderr  # the doc's Backups: pg_dump instead
                await _pg_dump(copy_url, tmp_path)
            else:
                assert finished.returncode == 0, f"{args}: {finished.stdout}{finished.stderr}"
            if command is cli._keygen:
                values = {
                    "DATABASE_URL": f"sqlite+aiosqlite:///{state / 'tweetlink.db'}",
                    "PUBLIC_URL": "https://tweetlink.example.org",
                    "DISCORD_TOKEN": fake_discord.token,
                    "TWITTER_CONSUMER_KEY": CONSUMER_KEY,
                    "TWITTER_CONSUMER_SECRET": CONSUMER_SECRET,
                    "TWITTER_API_BASE": fake_twitter.base_url,
                }
                env_file.write_text(_settings_text(finished.stdout.strip(), values))
            if command is cli._db_copy:  # the doc's sed: the settings now name the copy
                text = env_file.read_text()
                env_file.write_text(
                    re.sub(r"^DATABASE_URL=.*$", f"DATABASE_URL={copy_url}", text, flags=re.M)
                )
            ran.append(command)
        assert ran == [
            cli._keygen,
            cli._migrate,
            cli._check,
            cli._backup,
            cli._db_copy,
            cli._check,
            cli._migrate,
            cli._backup,
        ]
        assert "before-postgres.db" in {path.name for path in state.iterdir()}

        unit = "tweetlink-web@.service"
        port = str(free_port())
        _, argv = _command(_one(unit, "ExecStart"), port)
        for setting in _values(unit, "Environment"):
            name, _, value = setting.replace("%i", port).partition("=")
            env[name] = value
        log_path = tmp_path / "web.log"
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tweetlink",
                *map(here, _tweetlink_args(argv)),
                cwd=tmp_path,
                env=env,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        worker = WebWorker(f"http://127.0.0.1:{port}", process, log_path)
        try:
            await until_healthy(worker)
            async with aiohttp.ClientSession() as http, http.get(f"{worker.url}/metrics") as answer:
                assert answer.status == 200
                exposition = await answer.text()
            for name in re.findall(r"^\| `(tweetlink_\w+)`", DOC.read_text(), re.M):
                assert f"# TYPE {name} " in exposition, name
        finally:
            returncode = await worker.stop()
        assert returncode == 0, worker.log
        assert str(env_file) in worker.log  # it read --env-file


async def _pg_dump(url: str, tmp_path: Path) -> None:
    """The doc's pg_dump of the database at `url`, in its custom format, read by pg_restore."""
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    dump = tmp_path / "tweetlink.dump"
    listed = ""
    for argv in (
        ["pg_dump", "--format=custom", f"--file={dump}", libpq],
        ["pg_restore", "--list", str(dump)],
    ):
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(process.communicate(), TOOL_SECONDS)
        assert process.returncode == 0, err.decode()
        listed = out.decode()
    assert "TABLE DATA public linked_accounts" in listed
