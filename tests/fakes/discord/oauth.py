"""The fake Discord's OAuth2 and Linked Roles: authorize, token, the current user by bearer
token, the user's application role connection and the app's role-connection metadata.

Checked as strictly as Discord: the client id and secret, the exact redirect URI registered,
the scopes asked and granted, single-use codes, rotating refresh tokens, expired access tokens
(401), a role connection without `role_connections.write` (403), metadata keys the app has not
registered (400). The authorize page approves at once, as the user ``approving_user`` (the one
"signed in to Discord" in the browser), unless ``deny_next`` says the user pressed Cancel.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.fakes.discord.state import FakeUser, Json, RecordedRequest, World

SCOPES_KNOWN = {"identify", "role_connections.write", "email", "guilds"}
CODE_SECONDS = 600
_METADATA_KEY = re.compile(r"[a-z0-9_]{1,50}")


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def _redirect(url: str) -> web.Response:
    return web.Response(status=302, headers={"Location": url})


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    return _json({"error": error, "error_description": description}, status)


def _api_error(status: int, code: int, message: str) -> web.Response:
    return _json({"code": code, "message": message}, status)


@dataclass
class _Grant:
    user_id: int
    scopes: frozenset[str]
    expires_at: float = 0.0  # time.time(); access tokens only
    redirect_uri: str = ""  # codes only


@dataclass
class OAuth2:
    """The OAuth2 side of the fake: what was granted, and every role connection written."""

    world: World
    client_secret: str = field(default_factory=lambda: "fake-secret-" + secrets.token_hex(8))
    redirect_uris: set[str] = field(default_factory=set)
    approving_user: FakeUser | None = None
    deny_next: bool = False
    access_token_seconds: int = 604800  # Discord's: a week
    metadata: list[Json] = field(default_factory=list)
    role_connections: dict[int, Json] = field(default_factory=dict)  # by user id, as now
    role_connection_writes: list[tuple[int, Json]] = field(default_factory=list)
    token_requests: list[str] = field(default_factory=list)  # grant_type of each success
    _codes: dict[str, _Grant] = field(default_factory=dict)
    _access: dict[str, _Grant] = field(default_factory=dict)
    _refresh: dict[str, _Grant] = field(default_factory=dict)

    def expire_access_tokens(self) -> None:
        """Every access token issued so far runs out now (refresh tokens still work)."""
        for grant in self._access.values():
            grant.expires_at = 0.0

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token still valid (to check none of them leaks)."""
        return [*self._access, *self._refresh]

    def revoke_user(self, user: FakeUser) -> None:
        """The user removes the app in Discord's settings: every token of theirs stops working."""
        for tokens in (self._access, self._refresh):
            for token in [t for t, g in tokens.items() if g.user_id == user.id]:
                del tokens[token]

    def routes(self) -> list[tuple[str, str, Any]]:
        """(method, path, handler) for the fake's router; handlers take (request, record)."""
        api = "/api/v10"
        return [
            ("GET", "/oauth2/authorize", self._authorize),
            ("POST", api + "/oauth2/token", self._token),
            ("GET", api + "/users/@me/applications/{app}/role-connection", self._get_connection),
            ("PUT", api + "/users/@me/applications/{app}/role-connection", self._put_connection),
            ("GET", api + "/applications/{app}/role-connections/metadata", self._get_metadata),
            ("PUT", api + "/applications/{app}/role-connections/metadata", self._put_metadata),
        ]

    # -- the browser's side --------------------------------------------------------------

    async def _authorize(self, request: web.Request, record: RecordedRequest) -> web.Response:
        query = request.query
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != str(self.world.application_id):
            return web.Response(status=400, text="Unknown application")
        if redirect_uri not in self.redirect_uris:
            return web.Response(status=400, text="Invalid OAuth2 redirect_uri")
        if query.get("response_type") != "code":
            return web.Response(status=400, text="Unsupported response_type")
        scopes = frozenset(query.get("scope", "").split())
        if not scopes or not scopes <= SCOPES_KNOWN:
            return web.Response(status=400, text="Invalid scope")
        state = query.get("state", "")
        if self.deny_next:
            self.deny_next = False
            back = {"error": "access_denied", "error_description": "denied", "state": state}
            return _redirect(f"{redirect_uri}?{urlencode(back)}")
        if self.approving_user is None:
            return web.Response(status=400, text="Nobody is signed in to the fake Discord")
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Grant(
            self.approving_user.id, scopes, time.time() + CODE_SECONDS, redirect_uri
        )
        return _redirect(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}")

    # -- the app's side ------------------------------------------------------------------

    async def _token(self, request: web.Request, record: RecordedRequest) -> web.Response:
        form = await request.post()
        if not self._client_authenticated(request, form):
            return _oauth_error(401, "invalid_client", "Invalid client")
        kind = form.get("grant_type")
        if kind == "authorization_code":
            grant = self._codes.pop(str(form.get("code", "")), None)
            if grant is None or grant.expires_at < time.time():
                return _oauth_error(400, "invalid_grant", 'Invalid "code" in request.')
            if form.get("redirect_uri") != grant.redirect_uri:
                return _oauth_error(400, "invalid_grant", 'Invalid "redirect_uri" in request.')
        elif kind == "refresh_token":
            grant = self._refresh.pop(str(form.get("refresh_token", "")), None)
            if grant is None:
                return _oauth_error(400, "invalid_grant", 'Invalid "refresh_token" in request.')
        else:
            return _oauth_error(400, "unsupported_grant_type", "Unsupported grant type")
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        expires_at = time.time() + self.access_token_seconds
        self._access[access] = _Grant(grant.user_id, grant.scopes, expires_at)
        self._refresh[refresh] = _Grant(grant.user_id, grant.scopes)
        self.token_requests.append(str(kind))
        return _json(
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": self.access_token_seconds,
                "refresh_token": refresh,
                "scope": " ".join(sorted(grant.scopes)),
            }
        )

    def _client_authenticated(self, request: web.Request, form: Any) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):  # Discord takes either form of client authentication
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        else:
            client_id, secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
        return client_id == str(self.world.application_id) and secrets.compare_digest(
            secret, self.client_secret
        )

    def bearer_user(self, request: web.Request, scope: str) -> tuple[FakeUser | None, int]:
        """The user a bearer token belongs to, if it is valid, unexpired and has `scope`;
        else the status Discord would answer (401 or 403)."""
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        grant = self._access.get(token)
        if grant is None or grant.expires_at < time.time():
            return None, 401
        if scope not in grant.scopes:
            return None, 403
        return self.world.users.get(grant.user_id), 200

    async def get_me(self, request: web.Request) -> web.Response:
        """GET /users/@me with a bearer token (the bot's own is served by the REST routes)."""
        user, status = self.bearer_user(request, "identify")
        if user is None:
            return _api_error(status, 0, "401: Unauthorized" if status == 401 else "Missing Access")
        return _json(user.payload())

    async def _get_connection(self, request: web.Request, record: RecordedRequest) -> web.Response:
        user, status = self._connection_user(request)
        if user is None:
            return _api_error(status, 0, "Unauthorized or missing access")
        return _json(self.role_connections.get(user.id, {"platform_name": None, "metadata": {}}))

    async def _put_connection(self, request: web.Request, record: RecordedRequest) -> web.Response:
        user, status = self._connection_user(request)
        if user is None:
            return _api_error(status, 0, "Unauthorized or missing access")
        body = record.json if isinstance(record.json, dict) else {}
        problem = self._connection_problem(body)
        if problem is not None:
            return _api_error(400, 50035, f"Invalid Form Body: {problem}")
        connection = {
            "platform_name": body.get("platform_name"),
            "platform_username": body.get("platform_username"),
            "metadata": dict(body.get("metadata") or {}),
        }
        self.role_connections[user.id] = connection
        self.role_connection_writes.append((user.id, connection))
        return _json(connection)

    def _connection_user(self, request: web.Request) -> tuple[FakeUser | None, int]:
        if request.match_info["app"] != str(self.world.application_id):
            return None, 404
        return self.bearer_user(request, "role_connections.write")

    def _connection_problem(self, body: Json) -> str | None:
        for name, longest in (("platform_name", 50), ("platform_username", 100)):
            value = body.get(name)
            if value is not None and (not isinstance(value, str) or len(value) > longest):
                return f"{name} must be a string of at most {longest} characters"
        types = {record["key"]: record["type"] for record in self.metadata}
        for key, value in (body.get("metadata") or {}).items():
            if key not in types:
                return f"metadata key {key!r} is not registered for this application"
            if not isinstance(value, str) or len(value) > 100:
                return f"metadata {key!r} must be a string"
            kind = types[key]
            if kind in (7, 8) and value not in ("0", "1"):
                return f"metadata {key!r} must be 0 or 1"
            if kind in (5, 6):
                try:
                    datetime.fromisoformat(value)
                except ValueError:
                    return f"metadata {key!r} must be an ISO8601 date"
            if kind <= 4 and not value.lstrip("-").isdigit():
                return f"metadata {key!r} must be an integer"
        return None

    async def _get_metadata(self, request: web.Request, record: RecordedRequest) -> web.Response:
        refused = self._bot_refused(request)
        return refused or _json(self.metadata)

    async def _put_metadata(self, request: web.Request, record: RecordedRequest) -> web.Response:
        refused = self._bot_refused(request)
        if refused is not None:
            return refused
        records = record.json
        if not isinstance(records, list) or len(records) > 5:
            return _api_error(400, 50035, "Invalid Form Body: at most 5 records")
        for item in records:
            ok = (
                isinstance(item, dict)
                and _METADATA_KEY.fullmatch(str(item.get("key", "")))
                and 1 <= len(str(item.get("name", ""))) <= 100
                and 1 <= len(str(item.get("description", ""))) <= 200
                and item.get("type") in range(1, 9)
            )
            if not ok:
                return _api_error(400, 50035, f"Invalid Form Body: bad record {item!r}")
        self.metadata = list(records)
        return _json(self.metadata)

    def _bot_refused(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bot {self.world.token}":
            return _api_error(401, 0, "401: Unauthorized")
        if request.match_info["app"] != str(self.world.application_id):
            return _api_error(403, 50001, "Missing Access")
        return None
