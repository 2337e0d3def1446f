"""A strict stand-in for X/Twitter's OAuth 1.0a provider, ``POST /2/tweets``,
``DELETE /2/tweets/:id`` and ``POST /2/media/upload``, on loopback.

``FakeTwitter`` is an aiohttp.web server with X's paths and answers: the three-legged flow
(``/oauth/request_token``, ``/oauth/authorize``, ``/oauth/access_token``),
``/1.1/oauth/invalidate_token``, ``/2/media/upload`` (simple image upload), ``/2/tweets`` and
``/2/tweets/:id`` (delete). Every
signed request is verified like X does it: RFC 5849 HMAC-SHA1 over the method, the URL the server
saw, the query, form-encoded body and OAuth parameters (JSON and multipart bodies are not signed),
with timestamp bounds, nonce replay protection and single-use request tokens. Tests read what
happened from ``tweets``, ``media``, ``invalidated_tokens``, ``users`` and ``requests`` (or
``tweets_by``), and make it refuse with the knobs below.

Each way it can refuse is one-shot (it refuses the next matching request, then is spent) or
lasting (it refuses every matching request until the test sets it back):

=========================== ========= ==============================================================
knob                        lasts     what X answers
=========================== ========= ==============================================================
refuse_next_tweet(u, how)   one-shot  u's next POST /2/tweets only: "revoked" 401, "read-only"
                                      403, "credits" 402, "rate limit" 429 or "503" 503
fail_next_tweets            one-shot  one status each, in order, for the next POST /2/tweets
                                      calls, whoever makes them
fail_next_deletes           one-shot  the same for DELETE /2/tweets/:id
unavailable                 lasting   every route: 503 Over capacity
credits_exhausted           lasting   /2/tweets and /2/media/upload: 402 CreditsDepleted
tweet_rate_limit            lasting   POST /2/tweets past that many calls per user in 15 min: 429
granted_access_level        lasting   tokens granted from then on get it; "read" ones get 403 on
                                      posting (tokens granted before keep their level)
revoke(token)               lasting   that access token: 401 (a new link's token works)
revoke_user(u)              lasting   u's access tokens so far: 401 (a new link's token works)
downgrade_user(u)           lasting   u's access tokens so far turn read-only: 403 on posting
allowed_callbacks           lasting   /oauth/request_token with another callback: 403 code 415
request_token_ttl           lasting   request tokens older than that are unknown
timestamp_window            lasting   signatures timed outside it: 401 code 135
faults.break_next(e, f)     one-shot  endpoint e's next answer spoiled after X did its part: an
                                      HTML 500, a reset, late, not JSON (tests/fakes/faults.py)
=========================== ========= ==============================================================

X's own rules refuse as well, always: a bad or replayed signature (401), a text the user already
posted (403), media X would not take (400). Two lasting knobs slow it without refusing:
``latency`` delays every answer, and ``tweet_delay`` answers a tweet late, after recording it (a
client that gives up cannot know it was posted).

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
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html import escape
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal, NamedTuple, Self
from urllib.parse import urlencode

from aiohttp import BodyPartReader, web
from oauthlib.common import urldecode
from oauthlib.oauth1.rfc5849 import signature, utils

from tests.fakes.faults import Faults

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
MULTIPART_CONTENT_TYPE = "multipart/form-data"
# docs.x.com "Upload media" and media best practices (xdevplatform/docs,
# x-api/media/upload-media.mdx, x-api/media/quickstart/best-practices.mdx): images <= 5 MB,
# JPG, PNG, GIF or WEBP; up to 4 photos per post.
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_MEDIA_PER_TWEET = 4
# The image values of the v2 simple upload's media_category enum (docs.x.com "Upload media",
# OpenAPI post /2/media/upload: tweet_image, dm_image, subtitles).
MEDIA_CATEGORIES = frozenset({"tweet_image", "dm_image"})
# docs.x.com rate limits (xdevplatform/docs x-api/fundamentals/rate-limits.mdx):
# POST /2/tweets is 100 requests per 15 minutes per user.
RATE_LIMIT_WINDOW = 15 * 60
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
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
_INVALID_REQUEST = "https://api.twitter.com/2/problems/invalid-request"
# X's answer to a second identical post, as quoted in client code and issue threads, e.g.
# '{"detail":"You are not allowed to create a Tweet with duplicate content.","type":"about:blank",
# "title":"Forbidden","status":403}' (found via the search tool's code corpus).
_V2_DUPLICATE = {
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
# Pay-per-use with no credits left (2026): HTTP 402 with this problem, as logged by several projects
# (e.g. '{"title":"CreditsDepleted","detail":"Your enrolled account [<id>] does not have any
# credits to fulfill this request.","type":"https://api.twitter.com/2/problems/credits"}'); its
# 185-byte length in tryethernal/ethernal#1326's headers matches this shape with a 19-digit id.
# A later variant ("Payment Required", type .../2/problems/credits-depleted) has also been seen:
# clients should key on the 402 status, not on the body.
_CREDITS_DETAIL = (
    "Your enrolled account [{account}] does not have any credits to fulfill this request."
)
_CREDITS_TYPE = "https://api.twitter.com/2/problems/credits"
# X's v2 rate-limit answer, verbatim in many clients' logs and tests:
# '{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}'.
_V2_TOO_MANY_REQUESTS = {
    "title": "Too Many Requests",
    "detail": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
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

_V2_NOT_YOURS = {
    "title": "Forbidden",
    "type": "about:blank",
    "status": 403,
    "detail": "You are not authorized to delete this Tweet.",
}


def _v2_not_found(tweet_id: str) -> dict[str, Any]:
    """v2's resource-not-found problem, as X answers for a post that does not exist (any more)."""
    return {
        "title": "Not Found Error",
        "type": "https://api.twitter.com/2/problems/resource-not-found",
        "detail": f"Could not find tweet with id: [{tweet_id}].",
        "resource_type": "tweet",
        "parameter": "id",
        "value": tweet_id,
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
    deleted: bool = False  # by DELETE /2/tweets/:id


@dataclass
class RecordedMedia:
    """An image accepted by ``POST /2/media/upload``."""

    id: str
    user_id: str
    data: bytes
    media_category: str


@dataclass
class _RateWindow:
    started_at: float  # time.time()
    requests: int = 0


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
    return _json(400, {"title": "Invalid Request", "detail": detail, "type": _INVALID_REQUEST})


def _invalid_media_ids(media_ids: list[str]) -> web.Response:
    # X's answer to media ids it does not accept, as mirrored by X's own API playground
    # (xdevplatform/playground: "Format error matching real API format") and clients' tests.
    error = {"parameters": {"media.media_ids": media_ids}, "message": "Your media IDs are invalid."}
    return _json(
        400,
        {
            "errors": [error],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": _INVALID_REQUEST,
        },
    )


def _credits_depleted(account_id: str) -> web.Response:
    detail = _CREDITS_DETAIL.format(account=account_id)
    return _json(402, {"title": "CreditsDepleted", "detail": detail, "type": _CREDITS_TYPE})


def _v2_status(status: int) -> web.Response:
    """A bare v2 problem shaped like X's 429 (and 401): the reason phrase as title and detail."""
    phrase = HTTPStatus(status).phrase
    problem = {"title": phrase, "detail": phrase, "type": "about:blank", "status": status}
    return _json(status, problem)


# refuse_next_tweet's one-shot refusals, and X's answer to each (given the user's id).
TWEET_REFUSALS: dict[str, Callable[[str], web.Response]] = {
    "revoked": lambda _: _json(401, _V2_UNAUTHORIZED),
    "read-only": lambda _: _json(403, _V2_NO_WRITE_PERMISSION),
    "credits": _credits_depleted,
    "rate limit": lambda _: _json(429, _V2_TOO_MANY_REQUESTS),
    "503": lambda _: _v2_status(503),
}


def _image_type(data: bytes) -> str | None:
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _image_size(data: bytes, mime: str) -> tuple[int, int] | None:
    """Width and height from the image's header, or None when the header is cut short."""
    try:
        if mime == "image/png" and data[12:16] == b"IHDR":
            width, height = struct.unpack_from(">II", data, 16)
            return int(width), int(height)
        if mime == "image/gif":
            width, height = struct.unpack_from("<HH", data, 6)
            return int(width), int(height)
        if mime == "image/jpeg":
            return _jpeg_size(data)
        if mime == "image/webp":
            return _webp_size(data)
    except struct.error:
        return None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    offset = 2
    while offset + 4 <= len(data) and data[offset] == 0xFF:
        marker = data[offset + 1]
        (length,) = struct.unpack_from(">H", data, offset + 2)
        # SOF0-SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack_from(">HH", data, offset + 5)
            return int(width), int(height)
        offset += 2 + int(length)
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return (width, height) if len(data) >= 30 else None
    if chunk == b"VP8L":
        (bits,) = struct.unpack_from("<I", data, 21)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        width, height = struct.unpack_from("<HH", data, 26)
        return int(width) & 0x3FFF, int(height) & 0x3FFF
    return None


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
        granted_access_level: str = "read-write",
    ) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.base_url = ""
        # The knobs (see the module docstring's table); all lasting but fail_next_tweets.
        self.latency = latency  # seconds before every answer
        self.allowed_callbacks = allowed_callbacks  # None: any callback URL
        self.request_token_ttl = request_token_ttl
        self.timestamp_window = timestamp_window
        # The app's permission: what access tokens granted from now on get ("read-write" or
        # "read"); tokens granted before keep theirs (downgrade_user changes those).
        self.granted_access_level = granted_access_level
        self.unavailable = False  # True: every route answers 503 Over capacity
        # POST /2/tweets requests a user may make per 15-minute window; X counts every request.
        self.tweet_rate_limit = 100
        # True: /2/tweets and /2/media/upload answer 402 CreditsDepleted.
        self.credits_exhausted = False
        # Seconds /2/tweets waits after recording a tweet and before answering.
        self.tweet_delay = 0.0
        # One-shot: status codes for the next /2/tweets calls (anyone's), one per call, answered
        # without recording; each is spent by the call it answers.
        self.fail_next_tweets: list[int] = []
        self.fail_next_deletes: list[int] = []  # the same, for DELETE /2/tweets/:id
        # One-shot: refuse_next_tweet's refusals, by user id, each spent by that user's next call.
        self._next_tweet_refusals: dict[str, list[str]] = {}
        self.tweets: list[RecordedTweet] = []
        self.media: dict[str, RecordedMedia] = {}
        self.invalidated_tokens: set[str] = set()
        self.users: dict[str, FakeTwitterUser] = {}
        self.requests: list[tuple[str, str]] = []
        # Every access token, token secret and spent verifier, so tests can search for leaks.
        self.issued_secrets: list[str] = []
        self._request_tokens: dict[str, _RequestToken] = {}
        self._access_tokens: dict[str, _AccessToken] = {}
        self._seen_nonces: dict[tuple[str, str, str, str], int] = {}  # oldest first
        self.tweet_recorded = asyncio.Event()  # set at each tweet, for tests to await
        self._texts: set[tuple[str, str]] = set()  # (user id, text) of every tweet, for duplicates
        self._tweet_windows: dict[str, _RateWindow] = {}
        self._closing = asyncio.Event()
        self._ids = itertools.count(1_790_000_000_000_000_001)  # snowflake-sized, like X's ids
        self._runner: web.AppRunner | None = None
        self.faults = Faults()

    def add_user(self, screen_name: str) -> FakeTwitterUser:
        """Return the account named ``screen_name``, creating it on first use."""
        if screen_name not in self.users:
            user_id = str(next(self._ids))
            self.users[screen_name] = FakeTwitterUser(user_id=user_id, screen_name=screen_name)
        return self.users[screen_name]

    def tweets_by(self, screen_name: str) -> list[RecordedTweet]:
        """The tweets recorded for the account named ``screen_name``, oldest first."""
        user = self.users.get(screen_name)
        if user is None:
            return []
        return [tweet for tweet in self.tweets if tweet.user_id == user.user_id]

    def revoke(self, access_token: str) -> None:
        """Lasting: forget an access token, as when its user revokes the app on twitter.com."""
        self._access_tokens.pop(access_token, None)

    def revoke_user(self, screen_name: str) -> None:
        """Lasting: forget every access token of a user so far, as when they revoke the app on
        x.com (linking again gives a token that works)."""
        for token in [
            t for t, a in self._access_tokens.items() if a.user.screen_name == screen_name
        ]:
            del self._access_tokens[token]

    def downgrade_user(self, screen_name: str) -> None:
        """Lasting: make a user's tokens so far read-only, as when the app loses its write
        permission."""
        for access in self._access_tokens.values():
            if access.user.screen_name == screen_name:
                access.access_level = "read"

    def refuse_next_tweet(self, screen_name: str, how: str) -> None:
        """One-shot: X refuses the user's next POST /2/tweets, and that one only, with what it
        answers when the token was "revoked" (401), is "read-only" (403), the "credits" are used
        up (402), the "rate limit" is reached (429), or with a "503". Calls queue up.

        For a refusal that lasts, use revoke_user, downgrade_user, credits_exhausted,
        tweet_rate_limit or unavailable."""
        if how not in TWEET_REFUSALS:
            raise ValueError(f"no such refusal: {how!r}; one of {sorted(TWEET_REFUSALS)}")
        user_id = self.add_user(screen_name).user_id
        self._next_tweet_refusals.setdefault(user_id, []).append(how)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 picks a free port) and return the base URL."""
        self._closing = asyncio.Event()
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound_port = self._runner.addresses[0][1]
        self.base_url = f"http://{host}:{bound_port}"
        return self.base_url

    async def close(self) -> None:
        """Stop serving."""
        # Cut short any tweet_delay, so a test whose client gave up does not wait it out.
        self._closing.set()
        self.faults.close()
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
        # The 5 MB image limit is ours to enforce (a 400), not aiohttp's (a 413 past 1 MB).
        app = web.Application(
            middlewares=[self.faults.middleware, self._middleware],
            client_max_size=MAX_IMAGE_BYTES + 1024 * 1024,
        )
        app.router.add_post("/oauth/request_token", self._request_token)
        app.router.add_get("/oauth/authorize", self._authorize_page)
        app.router.add_post("/oauth/authorize", self._authorize)
        app.router.add_post("/oauth/access_token", self._access_token)
        app.router.add_post("/1.1/oauth/invalidate_token", self._invalidate_token)
        app.router.add_post("/2/tweets", self._create_tweet)
        app.router.add_post("/2/media/upload", self._upload_media)
        app.router.add_delete("/2/tweets/{tweet_id}", self._delete_tweet)
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
        # The oldest come first, so forgetting stops at the first one still in the window.
        while self._seen_nonces:
            oldest, seen_at = next(iter(self._seen_nonces.items()))
            if now - seen_at <= self.timestamp_window:
                break
            del self._seen_nonces[oldest]
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
        level = "read" if request_token.access_type == "read" else self.granted_access_level
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

    async def _upload_media(self, request: web.Request) -> web.Response:
        # Simple upload, docs.x.com "Upload media" (OpenAPI post /2/media/upload): multipart
        # form-data with the raw file in "media" and a required "media_category".
        params = await self.verify(request, signed_with="access_token")
        access_token = self._access_tokens[params["oauth_token"]]
        if access_token.access_level == "read":
            return _json(403, _V2_NO_WRITE_PERMISSION)
        if self.credits_exhausted:
            return _credits_depleted(access_token.user.user_id)
        if request.content_type != MULTIPART_CONTENT_TYPE:
            return _invalid_request("Content-Type must be multipart/form-data.")
        try:
            parts = await self._read_upload_parts(request)
        except ValueError:
            return _invalid_request("The multipart body could not be parsed.")
        data = parts.get("media")
        category = parts.get("media_category")
        if data is None:
            return _invalid_request("The media field is required.")
        if category is None:
            return _invalid_request("The media_category field is required.")
        media_category = category.decode("utf-8", "replace")
        if media_category not in MEDIA_CATEGORIES:
            return _invalid_request(f"Unsupported media_category: {media_category}.")
        if len(data) > MAX_IMAGE_BYTES:
            return _invalid_request(f"Images must be at most {MAX_IMAGE_BYTES} bytes.")
        image_type = _image_type(data)
        if image_type is None:
            return _invalid_request("The media is not a PNG, JPEG, GIF or WEBP image.")
        media = RecordedMedia(
            id=str(next(self._ids)),
            user_id=access_token.user.user_id,
            data=data,
            media_category=media_category,
        )
        self.media[media.id] = media
        # The v2 OpenAPI schema has data.{id, media_key, size, expires_after_secs,
        # processing_info}; "image" is v1.1's photo details (docs' simple-upload example:
        # {"image_type": "image/png", "w": 1000, "h": 600}), kept for parity. media_key "3_" is
        # the photo type. Clients should rely on data.id only.
        image: dict[str, Any] = {"image_type": image_type}
        size = _image_size(data, image_type)
        if size is not None:
            image["w"], image["h"] = size
        answer = {
            "id": media.id,
            "media_key": f"3_{media.id}",
            "size": len(data),
            "expires_after_secs": 86400,
            "image": image,
        }
        return _json(200, {"data": answer})

    @staticmethod
    async def _read_upload_parts(request: web.Request) -> dict[str, bytes]:
        """Each named part's raw bytes; one over the image limit is kept only to limit + 1 bytes."""
        parts: dict[str, bytes] = {}
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                raise ValueError("nested multipart")
            if part.name is None:
                await part.release()
                continue
            data = bytearray()
            while chunk := await part.read_chunk():
                if len(data) <= MAX_IMAGE_BYTES:
                    data.extend(chunk[: MAX_IMAGE_BYTES + 1 - len(data)])
            parts[part.name] = bytes(data)
        return parts

    async def _create_tweet(self, request: web.Request) -> web.Response:
        params = await self.verify(request, signed_with="access_token")
        access_token = self._access_tokens[params["oauth_token"]]
        user_id = access_token.user.user_id
        # X counts requests, not posts: every authenticated call spends one.
        window = self._tweet_windows.get(user_id)
        now = time.time()
        if window is None or now >= window.started_at + RATE_LIMIT_WINDOW:
            window = self._tweet_windows[user_id] = _RateWindow(started_at=now)
        window.requests += 1
        remaining = max(0, self.tweet_rate_limit - window.requests)
        rate_headers = {
            "x-rate-limit-limit": str(self.tweet_rate_limit),
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(int(window.started_at + RATE_LIMIT_WINDOW)),
        }
        refusals = self._next_tweet_refusals.get(user_id)
        if refusals:
            how = refusals.pop(0)
            answer = TWEET_REFUSALS[how](user_id)
            if how == "rate limit":
                rate_headers["x-rate-limit-remaining"] = "0"
        elif self.fail_next_tweets:
            status = self.fail_next_tweets.pop(0)
            answer = _credits_depleted(user_id) if status == 402 else _v2_status(status)
        elif window.requests > self.tweet_rate_limit:
            answer = _json(429, _V2_TOO_MANY_REQUESTS)
        else:
            answer = await self._post_tweet(request, access_token)
        answer.headers.update(rate_headers)
        return answer

    async def _post_tweet(self, request: web.Request, access_token: _AccessToken) -> web.Response:
        if access_token.access_level == "read":
            return _json(403, _V2_NO_WRITE_PERMISSION)
        user_id = access_token.user.user_id
        if self.credits_exhausted:
            return _credits_depleted(user_id)
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
        if len(media_ids) > MAX_MEDIA_PER_TWEET:
            return _invalid_request(f"At most {MAX_MEDIA_PER_TWEET} media may be attached.")
        foreign = [m for m in media_ids if m not in self.media or self.media[m].user_id != user_id]
        if foreign:
            return _invalid_media_ids(foreign)
        if text and (user_id, text) in self._texts:
            return _json(403, _V2_DUPLICATE)
        tweet = RecordedTweet(
            id=str(next(self._ids)), user_id=user_id, text=text, media_ids=media_ids
        )
        self.tweets.append(tweet)
        self._texts.add((user_id, text))
        self.tweet_recorded.set()
        if self.tweet_delay > 0:
            # Posted, but the answer is late: a client that gives up cannot know it was posted.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.tweet_delay)
        return _json(201, {"data": {"id": tweet.id, "text": tweet.text}})

    async def _delete_tweet(self, request: web.Request) -> web.Response:
        # docs.x.com "Delete Post": 200 {"data": {"deleted": true}}, only the author's token.
        params = await self.verify(request, signed_with="access_token")
        user_id = self._access_tokens[params["oauth_token"]].user.user_id
        if self.fail_next_deletes:
            return _v2_status(self.fail_next_deletes.pop(0))
        tweet_id = request.match_info["tweet_id"]
        tweet = next((t for t in self.tweets if t.id == tweet_id and not t.deleted), None)
        if tweet is None:
            return _json(404, _v2_not_found(tweet_id))
        if tweet.user_id != user_id:
            return _json(403, _V2_NOT_YOURS)
        tweet.deleted = True
        return _json(200, {"data": {"deleted": True}})


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
