"""The web front door: the pages of the link flow, built by `create_app`."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

from core import errors
from core.clock import Clock, utcnow
from core.db import database_unavailable, first_line
from core.links import LinkService
from core.role_connections import RoleConnectionService
from web import linked_role
from web.forms import form_token, query_token
from web.pages import PAGES, Pages
from web.probes import add_probe_routes

log = logging.getLogger(__name__)

LINKS = web.AppKey("links", LinkService)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(
    links: LinkService,
    *,
    twitter_api_base: str,
    ping: Callable[[], Awaitable[bool]],
    role_connections: RoleConnectionService | None = None,
    discord_base_url: str = "https://discord.com",
    secure_cookies: bool = True,
    clock: Clock = utcnow,
) -> web.Application:
    """The aiohttp application; its resources are owned by the caller (the composition root)."""
    app = web.Application(middlewares=[error_pages], client_max_size=64 * 1024)
    app[LINKS] = links
    # Forms post to us; the redirects after them go on to X and (Linked Roles) to Discord.
    app[PAGES] = Pages(form_targets=[_origin(twitter_api_base), _origin(discord_base_url)])
    app[CLOCK] = clock
    # Intent ids are token_urlsafe; any other shape is a 404 before it reaches the database
    # (PostgreSQL refuses a NUL in text, for one).
    app.router.add_get("/link/{intent_id:[A-Za-z0-9_-]+}", landing, allow_head=True)
    app.router.add_post("/link/{intent_id:[A-Za-z0-9_-]+}", continue_to_x)
    app.router.add_get("/oauth/callback", oauth_callback)
    linked_role.add_routes(app, role_connections, secure_cookies=secure_cookies)
    add_probe_routes(app, ping)
    return app


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def create_runner(app: web.Application) -> web.AppRunner:
    """A runner whose access log never records query strings, and which logs a malformed
    request in one line."""
    return web.AppRunner(app, access_log_class=PathOnlyAccessLogger, logger=server_log)


class OneLineForMalformedRequests(logging.Filter):
    """aiohttp logs each request its parser refuses (a line over 8 KB, a broken header) at ERROR
    with a traceback, so anyone could fill the log: this makes each one WARNING line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            # The name only: the message may quote the request, query string and all.
            record.msg = "refused a malformed request (%s, %s)"
            record.args = (type(error).__name__, error.code)
            record.exc_info = record.exc_text = None
        return True


server_log = logging.getLogger("web.server")
server_log.addFilter(OneLineForMalformedRequests())


class PathOnlyAccessLogger(AbstractAccessLogger):
    """Access lines without query strings (X's callback carries the verifier in its query) and
    with only a short prefix of a link's id: a whole one is a working link to someone's flow."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s -> %s in %.0f ms",
            request.method,
            _loggable_path(request.path),
            response.status,
            time * 1000,
        )


def _loggable_path(path: str) -> str:
    if path.startswith("/link/") and len(path) > len("/link/") + 6:
        return path[: len("/link/") + 6] + "…"
    return path


async def landing(request: web.Request) -> web.Response:
    """The page a member's link opens: no side effects, since previews and scanners fetch it too."""
    found = await request.app[LINKS].landing(request.match_info["intent_id"])
    return request.app[PAGES].render(
        "landing.html",
        intent_id=found.intent_id,
        discord_name=found.discord_name,
        csrf_token=found.csrf_token,
    )


async def continue_to_x(request: web.Request) -> web.Response:
    """The landing page's button: ask X for a request token and send the browser to X."""
    intent_id = request.match_info["intent_id"]
    csrf_token = await form_token(request, "csrf_token")
    if csrf_token is None:
        raise errors.FormExpired()
    try:
        authorize_url = await request.app[LINKS].begin_authorization(intent_id, csrf_token)
    except errors.TwitterError as error:
        raise RetryableFailure(error, retry_url=f"/link/{intent_id}") from None
    raise web.HTTPSeeOther(authorize_url)


async def oauth_callback(request: web.Request) -> web.Response:
    """X sends the browser back here: exchange the verifier and show the code."""
    links = request.app[LINKS]
    pages = request.app[PAGES]
    denied = query_token(request, "denied")
    if denied is not None:
        intent_id = await links.cancel_authorization(denied)
        return pages.render("denied.html", intent_id=intent_id)
    token, verifier = query_token(request, "oauth_token"), query_token(request, "oauth_verifier")
    if token is None or verifier is None:
        return error_page(
            pages,
            400,
            "Nothing to finish here",
            "This page is where X sends you back after you approve tweetlink. "
            "Start from the link the bot sent you in Discord.",
        )
    try:
        outcome = await links.finish_authorization(token, verifier)
    except errors.TwitterNoWriteAccess:
        raise
    except errors.TwitterError as error:
        flow = await links.intent_id_for_request_token(token)
        retry_url = f"/link/{flow}" if flow else None
        raise RetryableFailure(error, retry_url=retry_url) from None
    if outcome.linked:
        return pages.render(
            "linked.html", screen_name=outcome.screen_name, discord_name=outcome.discord_name
        )
    return pages.render(
        "code.html",
        code=outcome.code,
        screen_name=outcome.screen_name,
        discord_name=outcome.discord_name,
        minutes_left=_minutes_between(request.app[CLOCK](), outcome.code_expires_at),
    )


class RetryableFailure(Exception):
    """X failed during a step the member can simply try again."""

    def __init__(self, error: errors.TwitterError, *, retry_url: str | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_url = retry_url


_STATUS_AND_HEADING: dict[type[errors.TweetlinkError], tuple[int, str]] = {
    errors.IntentNotFound: (410, "This link has expired"),
    errors.IntentFinished: (410, "This link is finished"),
    errors.UnknownRequestToken: (400, "We could not match this sign-in"),
    errors.FormExpired: (403, "This form is out of date"),
    errors.TwitterNoWriteAccess: (403, "tweetlink needs permission to post"),
    errors.LinkedRolesOff: (404, "Linked Roles are not set up"),
    errors.SignInExpired: (400, "This sign-in is out of date"),
    errors.DiscordDenied: (400, "Nothing was connected"),
    errors.DiscordGrantRevoked: (403, "Discord refused tweetlink's access"),
}


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turns every failure into a page that says what happened and what to do; no stack traces."""
    pages = request.app[PAGES]
    try:
        response = await handler(request)
    except web.HTTPRedirection as redirect:
        pages.secure(redirect)
        raise
    except web.HTTPException as http_error:
        if http_error.status == 404:
            return error_page(pages, 404, http_error.reason, "There is nothing at this address.")
        return error_page(
            pages,
            http_error.status,
            http_error.reason,
            "This page cannot be used that way. Open the link the bot sent you.",
        )
    except RetryableFailure as failure:
        return error_page(
            pages,
            502,
            "X is not answering right now",
            str(failure.error),
            retry_url=failure.retry_url,
        )
    except errors.DiscordUnavailable as error:
        return error_page(
            pages, 502, "Discord is not answering right now", str(error), retry_url="/linked-role"
        )
    except errors.TweetlinkError as error:
        status, heading = _STATUS_AND_HEADING.get(type(error), (400, "Something is not right"))
        return error_page(pages, status, heading, str(error))
    except Exception as error:
        if not database_unavailable(error):
            error_id = secrets.token_hex(4)
            log.exception("unexpected error %s on %s %s", error_id, request.method, request.path)
            return error_page(
                pages,
                500,
                "Something went wrong on our side",
                "Nothing was linked. Please try again in a minute.",
                error_id=error_id,
            )
        log.warning(
            "the database is unavailable on %s %s: %s",
            request.method,
            _loggable_path(request.path),
            first_line(error),
        )
        return error_page(
            pages,
            503,
            "tweetlink is not available right now",
            "Its database is not answering. Nothing was changed. Please try again in a minute.",
        )
    pages.secure(response)
    return response


def error_page(
    pages: Pages,
    status: int,
    heading: str,
    message: str,
    *,
    retry_url: str | None = None,
    error_id: str | None = None,
) -> web.Response:
    """The one error page: what happened, what to do, and a way to try again when there is one."""
    return pages.render(
        "error.html",
        status=status,
        heading=heading,
        message=message,
        retry_url=retry_url,
        error_id=error_id,
    )


def _minutes_between(now: datetime, moment: datetime | None) -> int:
    if moment is None:
        return 0
    return max(1, round((moment - now).total_seconds() / 60))
