"""Reading what browsers send: token-like query parameters and form fields, strictly."""

from __future__ import annotations

import re

from aiohttp import web

# Long enough for any token X or Discord issues; anything longer is not from them.
MAX_PARAM_LENGTH = 512
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9_.~-]+")
# What our pages' forms send (an HTML form's default encoding).
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def query_token(request: web.Request, name: str) -> str | None:
    """A token-like query parameter (OAuth tokens, verifiers, codes and states are URL-safe
    ASCII), or None."""
    return token_or_none(request.query.get(name))


def token_or_none(value: str | None) -> str | None:
    """`value` if it is token-like, else None."""
    if value is None or len(value) > MAX_PARAM_LENGTH or not _TOKEN_LIKE.fullmatch(value):
        return None
    return value


async def form_token(request: web.Request, name: str) -> str | None:
    """A token-like field of one of our forms, sent as HTML sends it; any other body is the
    client's mistake (400 or 415)."""
    try:
        content_type = request.content_type
    except Exception:  # Python's header parser fails in assorted ways on garbage
        raise web.HTTPBadRequest(reason="Malformed Content-Type") from None
    if content_type != FORM_CONTENT_TYPE:
        raise web.HTTPUnsupportedMediaType()
    try:
        form = await request.post()
    except (ValueError, LookupError):  # bytes that are not UTF-8, a charset Python lacks
        raise web.HTTPBadRequest(reason="Malformed form") from None
    value = form.get(name)
    return token_or_none(value) if isinstance(value, str) else None
