"""What machines ask a running process: `/healthz` (load balancers) and `/metrics` (Prometheus).

The web pages serve both beside the pages; a bot process running alone serves them on
`METRICS_PORT` (`create_probe_app`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

PING: web.AppKey[Callable[[], Awaitable[bool]]] = web.AppKey("ping")


def add_probe_routes(app: web.Application, ping: Callable[[], Awaitable[bool]]) -> None:
    """Serve `/healthz`, which asks `ping` whether the database answers, and `/metrics`."""
    app[PING] = ping
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", make_aiohttp_handler())


def create_probe_app(ping: Callable[[], Awaitable[bool]]) -> web.Application:
    """An application with the probes alone."""
    app = web.Application()
    add_probe_routes(app, ping)
    return app


async def healthz(request: web.Request) -> web.Response:
    """Liveness for load balancers: the process answers and the database does too."""
    healthy = await request.app[PING]()
    return web.json_response(
        {"status": "ok" if healthy else "database unavailable"}, status=200 if healthy else 503
    )
