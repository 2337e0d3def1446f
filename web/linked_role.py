"""The Linked Roles pages: Discord's verification URL, and where Discord sends the browser back.

`GET /linked-role` changes nothing (Discord's client and link previews open it); its button
posts, with the form's CSRF token, to start Discord's OAuth2 flow. The `state` sent along is
single-use, expires, and is bound to this browser by a cookie, so a callback from another browser
(a login-CSRF attempt) or a replay is refused.
"""

from __future__ import annotations

import secrets

from aiohttp import web

from core import errors
from core.role_connections import RoleConnectionService
from web.forms import form_token, query_token, token_or_none
from web.pages import PAGES

ROLE_CONNECTIONS: web.AppKey[RoleConnectionService | None] = web.AppKey("role_connections")
SECURE_COOKIES = web.AppKey("secure_cookies", bool)
BROWSER_COOKIE = "tweetlink_browser"
BROWSER_COOKIE_SECONDS = 60 * 60


def add_routes(
    app: web.Application, role_connections: RoleConnectionService | None, *, secure_cookies: bool
) -> None:
    """Serve /linked-role and /discord/callback on `app`."""
    app[ROLE_CONNECTIONS] = role_connections
    app[SECURE_COOKIES] = secure_cookies
    app.router.add_get("/linked-role", linked_role_page, allow_head=True)
    app.router.add_post("/linked-role", start_sign_in)
    app.router.add_get("/discord/callback", discord_callback)


def _service(request: web.Request) -> RoleConnectionService:
    service = request.app[ROLE_CONNECTIONS]
    if service is None or not service.enabled:
        raise errors.LinkedRolesOff()
    return service


async def linked_role_page(request: web.Request) -> web.Response:
    """What Discord's Linked Roles menu opens: what will happen, and one button."""
    _service(request)
    browser = token_or_none(request.cookies.get(BROWSER_COOKIE)) or secrets.token_urlsafe(32)
    # The form's CSRF token is the browser cookie itself (double submit): another site can
    # neither read the cookie nor make our form carry it.
    response = request.app[PAGES].render("linked_role.html", csrf_token=browser)
    response.set_cookie(
        BROWSER_COOKIE,
        browser,
        max_age=BROWSER_COOKIE_SECONDS,
        httponly=True,
        samesite="Lax",  # sent on Discord's redirect back, a top-level GET
        secure=request.app[SECURE_COOKIES],
    )
    return response


async def start_sign_in(request: web.Request) -> web.Response:
    """The button: a fresh `state` for this browser, and off to Discord."""
    service = _service(request)
    browser = token_or_none(request.cookies.get(BROWSER_COOKIE))
    sent = await form_token(request, "csrf_token")
    if browser is None or sent is None or not secrets.compare_digest(browser, sent):
        raise errors.FormExpired()
    raise web.HTTPSeeOther(await service.begin_sign_in(browser))


async def discord_callback(request: web.Request) -> web.Response:
    """Discord sends the browser back here: write the member's role connection."""
    service = _service(request)
    if request.query.get("error") is not None:
        raise errors.DiscordDenied()
    state, code = query_token(request, "state"), query_token(request, "code")
    browser = token_or_none(request.cookies.get(BROWSER_COOKIE))
    if state is None or code is None or browser is None:
        raise errors.SignInExpired()
    signed_in = await service.finish_sign_in(state, browser, code)
    return request.app[PAGES].render(
        "linked_role_done.html", screen_name=signed_in.screen_name, written=signed_in.written
    )
