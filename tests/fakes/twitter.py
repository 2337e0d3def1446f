"""A strict stand-in for X/Twitter's OAuth 1.0a provider and ``POST /2/tweets``, on loopback.

``FakeTwitter`` is an aiohttp.web server with X's paths and answers: the three-legged flow
(``/oauth/request_token``, ``/oauth/authorize``, ``/oauth/access_token``),
``/1.1/oauth/invalidate_token`` and ``/2/tweets``. Every signed request is verified like X does it:
RFC 5849 HMAC-SHA1 over the method, the URL the server saw, the query, form-encoded body and OAuth
parameters, with timestamp bounds, nonce replay protection and single-use request tokens. Tests
steer it through its attributes (``latency``, ``unavailable``, ``access_level``, ``revoke``) and
read what happened from ``tweets``, ``invalidated_tokens``, ``users`` and ``requests``.

Run it by hand: ``python -m tests.fakes.twitter --port 8081 --consumer-key K --consumer-secret S``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import itertools
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html import escape
from types import TracebackType
from typing import Any, Literal, NamedTuple, Self
from urllib.parse import urlencode

from aiohttp import web
from oauthlib.common import urldecode
from oauthlib.oauth1.rfc5849 import signature, utils

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_REQUIRED_OAUTH_PARAMS = frozenset(
    {
        "oauth_consumer_key",
        "oauth_signature_method",
        "oauth_timestamp",
        "oauth_nonce",
        "oauth_signature",
    }
)
_SCREEN_NAME = re.compile(r"[A-Za-z0-9_]{1,15}")

_BAD_AUTHENTICATION_DATA = (400, 215, "Bad Authentication data.")
_COULD_NOT_AUTHENTICATE = (401, 32, "Could not authenticate you.")
_INVALID_TOKEN = (401, 89, "Invalid or expired token.")
_TIMESTAMP_OUT_OF_BOUNDS = (401, 135, "Timestamp out of bounds.")
_CALLBACK_NOT_APPROVED = (
    403,
    415,
    "Callback URL not approved for this client application. "
    "Approved callback URLs can be adjusted in your application settings",
)
_OVER_CAPACITY = {"errors": [{"code": 130, "message": "Over capacity"}]}
_V2_UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
_V2_NO_WRITE_PERMISSION = {
    "title": "Forbidden",
    "type": "https://api.twitter.com/2/problems/oauth1-permissions",
    "detail": (
        "Your client app is not configured with the appropriate oauth1 app permissions"
        " for this endpoint."
    ),
    "status": 403,
}

SignedWith = Literal["consumer", "request_token", "access_token"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class FakeTwitterUser:
    """An X account known to the fake."""

    user_id: str
    screen_name: str


@dataclass
class RecordedTweet:
    """A post accepted by ``POST /2/tweets``."""

    id: str
    user_id: str
    text: str
    media_ids: list[str]


@dataclass
class _RequestToken:
    token: str
    secret: str
    callback: str
    access_type: str | None
    issued_at: float  # time.monotonic()
    user: FakeTwitterUser | None = None
    verifier: str | None = None


@dataclass
class _AccessToken:
    token: str
    secret: str
    user: FakeTwitterUser
    access_level: str


class _Secrets(NamedTuple):
    """The two attributes oauthlib's ``sign_hmac_sha1_with_client`` reads from its client."""

    client_secret: str
    resource_owner_secret: str


class _ApiError(Exception):
    """A v1.1-style failure, answered as ``{"errors": [{"code": ..., "message": ...}]}``."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _json(status: int, payload: dict[str, Any]) -> web.Response:
    # Built from bytes so aiohttp adds no "; charset=utf-8", as X's answers have none.
    body = json.dumps(payload).encode()
    return web.Response(status=status, body=body, content_type="application/json")


def _form(payload: dict[str, str], headers: dict[str, str] | None = None) -> web.Response:
    body = urlencode(payload).encode()
    return web.Response(body=body, content_type=FORM_CONTENT_TYPE, headers=headers)


def _page(status: int, title: str, body_html: str) -> web.Response:
    html = (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head>\n<body><h1>{escape(title)}</h1>\n{body_html}\n</body></html>\n"
    )
    return web.Response(status=status, text=html, content_type="text/html")


def _invalid_request(detail: str) -> web.Response:
    problem = "https://api.twitter.com/2/problems/invalid-request"
    return _json(400, {"title": "Invalid Request", "detail": detail, "type": problem})


def _bad_token_page() -> web.Response:
    message = "<p>This request token is unknown, expired or already used.</p>"
    return _page(400, "Invalid request token", message)


def _with_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


class FakeTwitter:
    """X's OAuth 1.0a provider and ``POST /2/tweets``, verifying real signatures on 127.0.0.1."""

    def __init__(
        self,
        consumer_key: str,
        consumer_secret: str,
        *,
        latency: float = 0.0,
        allowed_callbacks: list[str] | None = None,
        request_token_ttl: float = 900.0,
        timestamp_window: float = 300.0,
        access_level: str = "read-write",
    ) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.latency = latency
        self.allowed_callbacks = allowed_callbacks
        self.request_token_ttl = request_token_ttl
        self.timestamp_window = timestamp_window
        self.access_level = access_level
        self.base_url = ""
        self.unavailable = False
        self.tweets: list[RecordedTweet] = []
        self.invalidated_tokens: set[str] = set()
        self.users: dict[str, FakeTwitterUser] = {}
        self.requests: list[tuple[str, str]] = []
        # Every access token, token secret and spent verifier, so tests can search for leaks.
        self.issued_secrets: list[str] = []
        self._request_tokens: dict[str, _RequestToken] = {}
        self._access_tokens: dict[str, _AccessToken] = {}
        self._seen_nonces: dict[tuple[str, str, str, str], int] = {}
        self._ids = itertools.count(1_790_000_000_000_000_001)  # snowflake-sized, like X's ids
        self._runner: web.AppRunner | None = None

    def add_user(self, screen_name: str) -> FakeTwitterUser:
        """Return the account named ``screen_name``, creating it on first use."""
        if screen_name not in self.users:
            user_id = str(next(self._ids))
            self.users[screen_name] = FakeTwitterUser(user_id=user_id, screen_name=screen_name)
        return self.users[screen_name]

    def revoke(self, access_token: str) -> None:
        """Forget an access token, as when its user revokes the app on twitter.com."""
        self._access_tokens.pop(access_token, None)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 picks a free port) and return the base URL."""
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound_port = self._runner.addresses[0][1]
        self.base_url = f"http://{host}:{bound_port}"
        return self.base_url

    async def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def make_app(self) -> web.Application:
        """Build the aiohttp application with X's routes."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/oauth/request_token", self._request_token)
        app.router.add_get("/oauth/authorize", self._authorize_page)
        app.router.add_post("/oauth/authorize", self._authorize)
        app.router.add_post("/oauth/access_token", self._access_token)
        app.router.add_post("/1.1/oauth/invalidate_token", self._invalidate_token)
        app.router.add_post("/2/tweets", self._create_tweet)
        return app

    async def verify(
        self, request: web.Request, signed_with: SignedWith = "consumer"
    ) -> dict[str, str]:
        """Check the request's HMAC-SHA1 signature and return its OAuth parameters, or raise."""
        body_params = await self._form_params(request)
        # Nothing below awaits, so checking a token and its caller consuming it are atomic.
        header = request.headers.get("Authorization", "")
        try:
            pairs = utils.parse_authorization_header(header)
        except ValueError:
            raise _ApiError(*_BAD_AUTHENTICATION_DATA) from None
        params = {str(k): str(utils.unescape(v)) for k, v in pairs if k != "realm"}
        if not params.keys() >= _REQUIRED_OAUTH_PARAMS:
            raise _ApiError(*_BAD_AUTHENTICATION_DATA)
        consumer_key = params["oauth_consumer_key"]
        if not hmac.compare_digest(consumer_key.encode(), self.consumer_key.encode()):
            raise _ApiError(*_COULD_NOT_AUTHENTICATE)
        if params["oauth_signature_method"] != "HMAC-SHA1":
            raise _ApiError(*_COULD_NOT_AUTHENTICATE)
        if params.get("oauth_version", "1.0") != "1.0":
            raise _ApiError(*_COULD_NOT_AUTHENTICATE)
        try:
            timestamp = int(params["oauth_timestamp"])
        except ValueError:
            raise _ApiError(*_BAD_AUTHENTICATION_DATA) from None
        now = time.time()
        if abs(now - timestamp) > self.timestamp_window:
            raise _ApiError(*_TIMESTAMP_OUT_OF_BOUNDS)

        token_secret = self._token_secret(params.get("oauth_token"), signed_with)
        try:
            collected = signature.collect_parameters(
                uri_query=request.rel_url.raw_query_string,
                body=body_params,
                headers={"Authorization": header},
            )
            base_string = signature.signature_base_string(
                request.method,
                signature.base_string_uri(str(request.url)),
                signature.normalize_parameters(collected),
            )
        except ValueError:
            raise _ApiError(*_COULD_NOT_AUTHENTICATE) from None
        keys = _Secrets(self.consumer_secret, token_secret)
        expected = str(signature.sign_hmac_sha1_with_client(base_string, keys))
        if not hmac.compare_digest(expected.encode(), params["oauth_signature"].encode()):
            raise _ApiError(*_COULD_NOT_AUTHENTICATE)

        # A nonce can be forgotten once its timestamp leaves the window: it is refused anyway.
        self._seen_nonces = {
            key: ts for key, ts in self._seen_nonces.items() if now - ts <= self.timestamp_window
        }
        token = params.get("oauth_token", "")
        nonce_key = (consumer_key, token, params["oauth_nonce"], params["oauth_timestamp"])
        if nonce_key in self._seen_nonces:
            raise _ApiError(*_COULD_NOT_AUTHENTICATE)
        self._seen_nonces[nonce_key] = timestamp
        return params

    def _token_secret(self, token: str | None, signed_with: SignedWith) -> str:
        if signed_with == "consumer":
            if token is not None:
                raise _ApiError(*_INVALID_TOKEN)
            return ""
        if signed_with == "request_token":
            request_token = self._live_request_token(token or "")
            if request_token is None:
                raise _ApiError(*_INVALID_TOKEN)
            return request_token.secret
        access_token = self._access_tokens.get(token or "")
        if access_token is None:
            raise _ApiError(*_INVALID_TOKEN)
        return access_token.secret

    def _live_request_token(self, token: str) -> _RequestToken | None:
        request_token = self._request_tokens.get(token)
        if request_token is None:
            return None
        if time.monotonic() - request_token.issued_at >= self.request_token_ttl:
            del self._request_tokens[token]
            return None
        return request_token

    def _pending_request_token(self, token: str) -> _RequestToken | None:
        request_token = self._live_request_token(token)
        return request_token if request_token is not None and request_token.user is None else None

    @staticmethod
    async def _form_params(request: web.Request) -> list[tuple[str, str]]:
        if request.content_type != FORM_CONTENT_TYPE:
            return []
        try:
            return list(urldecode(await request.text()))
        except ValueError:
            raise _ApiError(*_BAD_AUTHENTICATION_DATA) from None

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if self.unavailable:
            return _json(503, _OVER_CAPACITY)
        try:
            return await handler(request)
        except _ApiError as error:
            # v2 answers every authentication failure, revoked token or bad signature, alike.
            if request.path.startswith("/2/"):
                return _json(401, _V2_UNAUTHORIZED)
            errors = [{"code": error.code, "message": error.message}]
            return _json(error.status, {"errors": errors})

    async def _request_token(self, request: web.Request) -> web.Response:
        body = dict(await self._form_params(request))
        params = await self.verify(request)
        callback = params.get("oauth_callback")
        if not callback:
            raise _ApiError(*_BAD_AUTHENTICATION_DATA)
        if self.allowed_callbacks is not None and callback not in self.allowed_callbacks:
            raise _ApiError(*_CALLBACK_NOT_APPROVED)
        request_token = _RequestToken(
            token=secrets.token_urlsafe(24),
            secret=secrets.token_urlsafe(32),
            callback=callback,
            access_type=request.query.get("x_auth_access_type") or body.get("x_auth_access_type"),
            issued_at=time.monotonic(),
        )
        self._request_tokens[request_token.token] = request_token
        return _form(
            {
                "oauth_token": request_token.token,
                "oauth_token_secret": request_token.secret,
                "oauth_callback_confirmed": "true",
            }
        )

    async def _authorize_page(self, request: web.Request) -> web.Response:
        token = request.query.get("oauth_token", "")
        if self._pending_request_token(token) is None:
            return _bad_token_page()
        form = (
            '<form method="post" action="/oauth/authorize">\n'
            f'<input type="hidden" name="oauth_token" value="{escape(token)}">\n'
            '<label for="username">Username</label>\n'
            '<input type="text" id="username" name="username" value="alice">\n'
            '<button name="action" value="authorize">Authorize app</button>\n'
            '<button name="action" value="cancel">Cancel</button>\n'
            "</form>"
        )
        return _page(200, "Authorize app", form)

    async def _authorize(self, request: web.Request) -> web.Response:
        form = await request.post()
        token = str(form.get("oauth_token", ""))
        action = str(form.get("action", ""))
        username = str(form.get("username", "")).strip()
        request_token = self._pending_request_token(token)
        if request_token is None:
            return _bad_token_page()
        if action == "cancel":
            del self._request_tokens[token]
            raise web.HTTPFound(_with_query(request_token.callback, {"denied": token}))
        if action != "authorize":
            return _page(400, "Invalid request", f"<p>Unknown action: {escape(action)}</p>")
        if not _SCREEN_NAME.fullmatch(username):
            message = f"<p>Not a valid X username: {escape(username)}</p>"
            return _page(400, "Invalid username", message)
        request_token.user = self.add_user(username)
        request_token.verifier = secrets.token_urlsafe(24)
        answer = {"oauth_token": token, "oauth_verifier": request_token.verifier}
        raise web.HTTPFound(_with_query(request_token.callback, answer))

    async def _access_token(self, request: web.Request) -> web.Response:
        body = dict(await self._form_params(request))
        params = await self.verify(request, signed_with="request_token")
        request_token = self._request_tokens[params["oauth_token"]]
        verifier = params.get("oauth_verifier") or body.get("oauth_verifier", "")
        user, expected = request_token.user, request_token.verifier
        if user is None or expected is None or not hmac.compare_digest(verifier, expected):
            raise _ApiError(*_INVALID_TOKEN)
        del self._request_tokens[request_token.token]
        # x_auth_access_type=read narrows the grant below what the app itself may do.
        level = "read" if request_token.access_type == "read" else self.access_level
        access_token = _AccessToken(
            token=f"{user.user_id}-{secrets.token_urlsafe(30)}",
            secret=secrets.token_urlsafe(32),
            user=user,
            access_level=level,
        )
        self._access_tokens[access_token.token] = access_token
        self.issued_secrets.extend([access_token.token, access_token.secret, verifier])
        answer = {
            "oauth_token": access_token.token,
            "oauth_token_secret": access_token.secret,
            "user_id": user.user_id,
            "screen_name": user.screen_name,
        }
        return _form(answer, headers={"x-access-level": level})

    async def _invalidate_token(self, request: web.Request) -> web.Response:
        token = (await self.verify(request, signed_with="access_token"))["oauth_token"]
        del self._access_tokens[token]
        self.invalidated_tokens.add(token)
        return _json(200, {"access_token": token})

    async def _create_tweet(self, request: web.Request) -> web.Response:
        params = await self.verify(request, signed_with="access_token")
        access_token = self._access_tokens[params["oauth_token"]]
        if access_token.access_level == "read":
            return _json(403, _V2_NO_WRITE_PERMISSION)
        if request.content_type != "application/json":
            return _invalid_request("Content-Type must be application/json.")
        try:
            body = await request.json()
        except ValueError:
            return _invalid_request("The request body is not valid JSON.")
        if not isinstance(body, dict):
            return _invalid_request("The request body must be a JSON object.")
        text = body.get("text", "")
        media = body.get("media", {})
        media_ids = media.get("media_ids", []) if isinstance(media, dict) else None
        if not isinstance(text, str):
            return _invalid_request("$.text must be a string.")
        if not isinstance(media_ids, list) or not all(isinstance(m, str) for m in media_ids):
            return _invalid_request("$.media.media_ids must be an array of strings.")
        if not text and not media_ids:
            return _invalid_request("One of text or media is required.")
        tweet = RecordedTweet(
            id=str(next(self._ids)),
            user_id=access_token.user.user_id,
            text=text,
            media_ids=media_ids,
        )
        self.tweets.append(tweet)
        return _json(201, {"data": {"id": tweet.id, "text": tweet.text}})


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeTwitter(
        args.consumer_key,
        args.consumer_secret,
        latency=args.latency,
        allowed_callbacks=args.allowed_callback,
    )
    base_url = await fake.start(port=args.port)
    try:
        print(f"Fake X listening on {base_url}")
        print(f"Point tweetlink at it: TWITTER_API_BASE={base_url}")
        print("(with TWITTER_CONSUMER_KEY/TWITTER_CONSUMER_SECRET set to the values given here)")
        print("Press Ctrl-C to stop.", flush=True)
        await asyncio.Event().wait()
    finally:
        await fake.close()


def main() -> None:
    """Serve the fake on 127.0.0.1 until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.twitter",
        description="A fake X/Twitter OAuth 1.0a provider on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--consumer-key", required=True)
    parser.add_argument("--consumer-secret", required=True)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to delay each answer")
    parser.add_argument(
        "--allowed-callback",
        action="append",
        help="a callback URL to accept (repeatable; default: accept any)",
    )
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
