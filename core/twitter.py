"""The X/Twitter API client: OAuth 1.0a (RFC 5849, HMAC-SHA1) over one shared aiohttp session.

Signing is oauthlib's; the transport is the process's single `aiohttp.ClientSession`. Every answer
that is not a success becomes a domain exception from `core.errors`; nothing here logs a token.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
from oauthlib import oauth1

from core import metrics
from core.errors import (
    TwitterAuthRevoked,
    TwitterCallbackRejected,
    TwitterCreditsExhausted,
    TwitterDuplicate,
    TwitterError,
    TwitterMaybePosted,
    TwitterNoWriteAccess,
    TwitterRateLimited,
    TwitterRejected,
    TwitterUnavailable,
)

FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class TokenPair:
    """An OAuth token and its secret (a request token or an access token)."""

    token: str = field(repr=False)
    secret: str = field(repr=False)


@dataclass(frozen=True)
class AccessGrant:
    """What X hands back for an approved verifier."""

    credentials: TokenPair
    user_id: str
    screen_name: str
    access_level: str

    @property
    def can_write(self) -> bool:
        """Whether the token may post (X says `read-write` or `read-write-directmessages`)."""
        return "write" in self.access_level


@dataclass(frozen=True)
class Response:
    """An answer from X, read in full."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def sign_request(
    method: str,
    url: str,
    *,
    consumer_key: str,
    consumer_secret: str,
    credentials: TokenPair | None = None,
    callback: str | None = None,
    verifier: str | None = None,
    form: Mapping[str, str] | None = None,
    nonce: str | None = None,
    timestamp: str | None = None,
) -> str:
    """The `Authorization` header for one request; form fields are part of the signature."""
    client = oauth1.Client(
        consumer_key,
        client_secret=consumer_secret,
        resource_owner_key=credentials.token if credentials else None,
        resource_owner_secret=credentials.secret if credentials else None,
        callback_uri=callback,
        verifier=verifier,
        signature_method=oauth1.SIGNATURE_HMAC_SHA1,
        nonce=nonce,
        timestamp=timestamp,
    )
    body = urlencode(form) if form else None
    headers = {"Content-Type": FORM} if form else {}
    _, signed_headers, _ = client.sign(url, http_method=method, body=body, headers=headers)
    return str(signed_headers["Authorization"])


class TwitterClient:
    """Talks to X on behalf of our app (the consumer) and of linked members (the tokens)."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        consumer_key: str,
        consumer_secret: str,
        api_base: str,
        timeout_seconds: float,
    ) -> None:
        self._http = http
        self._consumer_key = consumer_key
        self._consumer_secret = consumer_secret
        self.api_base = api_base.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    def __repr__(self) -> str:
        return f"TwitterClient(api_base={self.api_base!r})"

    async def request_token(self, callback_url: str) -> TokenPair:
        """Step 1: a request token for a flow that returns to `callback_url`, write access asked."""
        response = await self._send(
            "POST",
            "/oauth/request_token",
            callback=callback_url,
            form={"x_auth_access_type": "write"},
        )
        answer = _form_answer(response)
        # Not checking this reopens the 2009 session-fixation hole (RFC 5849 §2.1).
        if answer.get("oauth_callback_confirmed") != "true":
            raise TwitterCallbackRejected()
        return _token_pair(answer)

    def authorize_url(self, request_token: str) -> str:
        """Step 2: where the member approves our app (`authorize` always asks)."""
        return f"{self.api_base}/oauth/authorize?{urlencode({'oauth_token': request_token})}"

    async def access_token(self, request: TokenPair, verifier: str) -> AccessGrant:
        """Step 3: trade the approved request token and its verifier for an access token."""
        response = await self._send(
            "POST", "/oauth/access_token", credentials=request, verifier=verifier
        )
        answer = _form_answer(response)
        try:
            user_id, screen_name = answer["user_id"], answer["screen_name"]
        except KeyError:
            raise TwitterUnavailable("X sent an incomplete answer.") from None
        return AccessGrant(
            credentials=_token_pair(answer),
            user_id=user_id,
            screen_name=screen_name,
            access_level=response.headers.get("x-access-level", "read-write"),
        )

    async def invalidate_token(self, credentials: TokenPair) -> None:
        """Revoke an access token at X; a token X already forgot counts as revoked."""
        try:
            await self._send("POST", "/1.1/oauth/invalidate_token", credentials=credentials)
        except TwitterAuthRevoked:
            return

    async def upload_image(self, credentials: TokenPair, image: bytes, content_type: str) -> str:
        """Upload an image for a tweet (v2 simple upload); returns its media id."""
        upload = aiohttp.FormData()
        upload.add_field("media", image, filename="image", content_type=content_type)
        upload.add_field("media_category", "tweet_image")
        response = await self._send(
            "POST", "/2/media/upload", credentials=credentials, multipart=upload
        )
        try:
            return str(json.loads(response.body)["data"]["id"])
        except (ValueError, KeyError, TypeError):
            raise TwitterUnavailable("X sent an unreadable answer to the upload.") from None

    async def post_tweet(
        self, credentials: TokenPair, text: str, media_ids: Sequence[str] = ()
    ) -> str:
        """Post a tweet as the token's owner; returns the tweet's id. Never retried: see below."""
        body: dict[str, Any] = {"text": text}
        if media_ids:
            body["media"] = {"media_ids": list(media_ids)}
        # A POST that timed out may have been posted: it must not be sent again blindly.
        response = await self._send(
            "POST", "/2/tweets", credentials=credentials, json_body=body, may_have_happened=True
        )
        try:
            return str(json.loads(response.body)["data"]["id"])
        except (ValueError, KeyError, TypeError):
            raise TwitterMaybePosted("X's answer could not be read") from None

    async def delete_tweet(self, credentials: TokenPair, tweet_id: str) -> bool:
        """Delete one of the token owner's tweets; False if X no longer has it."""
        try:
            response = await self._send(
                "DELETE",
                f"/2/tweets/{tweet_id}",
                credentials=credentials,
                endpoint="DELETE /2/tweets/:id",  # no tweet id in a metric's label
            )
        except TwitterRejected as error:
            if error.status == 404:
                return False
            raise
        try:
            return bool(json.loads(response.body)["data"]["deleted"])
        except (ValueError, KeyError, TypeError):
            raise TwitterUnavailable("X sent an unreadable answer to the deletion.") from None

    async def _send(
        self,
        method: str,
        path: str,
        *,
        endpoint: str | None = None,
        credentials: TokenPair | None = None,
        callback: str | None = None,
        verifier: str | None = None,
        form: Mapping[str, str] | None = None,
        json_body: Any = None,
        multipart: aiohttp.FormData | None = None,
        may_have_happened: bool = False,
    ) -> Response:
        url = f"{self.api_base}{path}"
        headers = {
            "Authorization": sign_request(
                method,
                url,
                consumer_key=self._consumer_key,
                consumer_secret=self._consumer_secret,
                credentials=credentials,
                callback=callback,
                verifier=verifier,
                form=form,
            )
        }
        data: str | aiohttp.FormData | None = multipart
        if form:
            data = urlencode(form)
            headers["Content-Type"] = FORM
        elif json_body is not None:
            data = json.dumps(json_body)
            headers["Content-Type"] = "application/json"
        started, status = time.perf_counter(), "cancelled"
        try:
            async with self._http.request(
                method, url, data=data, headers=headers, timeout=self._timeout
            ) as answer:
                response = Response(answer.status, answer.headers, await answer.read())
                status = str(answer.status)
        except aiohttp.ClientConnectorError:
            status = "unreachable"
            raise TwitterUnavailable("X could not be reached.") from None
        except (TimeoutError, aiohttp.ClientError) as error:
            timed_out = isinstance(error, TimeoutError)
            status = "timeout" if timed_out else "broken"
            what_happened = "X did not answer in time" if timed_out else "X's answer broke off"
            # The request may have reached X before the connection failed or the clock ran out.
            if may_have_happened:
                raise TwitterMaybePosted(what_happened) from None
            raise TwitterUnavailable(f"{what_happened}.") from None
        finally:
            elapsed = time.perf_counter() - started
            metrics.X_REQUESTS.labels(endpoint or f"{method} {path}", status).observe(elapsed)
        # 503 is X turning the request away; after any other 5xx it may have done what was asked.
        if may_have_happened and response.status >= 500 and response.status != 503:
            raise TwitterMaybePosted(f"X answered with an error ({response.status})")
        if response.status >= 300:
            raise error_for(response)
        return response


def error_for(response: Response) -> TwitterError:
    """The domain exception for an unsuccessful answer from X."""
    status = response.status
    code, detail, problem_type = _error_details(response.body)
    if status >= 500:
        return TwitterUnavailable(f"X is having trouble (it answered {status}).")
    if status == 401:
        return TwitterAuthRevoked()
    if status == 402:
        return TwitterCreditsExhausted()
    if status == 429:
        return TwitterRateLimited(_reset_time(response.headers))
    if code == 415:
        return TwitterCallbackRejected()
    if code == 261 or problem_type.endswith("/oauth1-permissions"):
        return TwitterNoWriteAccess()
    if code == 187 or "duplicate" in detail.lower():
        return TwitterDuplicate()
    return TwitterRejected(status, code, detail)


def _reset_time(headers: Mapping[str, str]) -> datetime | None:
    """When X's rate limit lifts, from `x-rate-limit-reset` (epoch seconds)."""
    try:
        return datetime.fromtimestamp(int(headers["x-rate-limit-reset"]), UTC)
    except (KeyError, ValueError, OverflowError):
        return None


def _error_details(body: bytes) -> tuple[int | None, str, str]:
    """X's error code, message and v2 problem type, from either of its error shapes."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None, body[:200].decode("utf-8", "replace") or "no details", ""
    if not isinstance(payload, dict):
        return None, "no details", ""
    errors = payload.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        code = first.get("code")
        return (code if isinstance(code, int) else None), str(first.get("message", ""))[:200], ""
    detail = str(payload.get("detail") or payload.get("title") or "no details")[:200]
    return None, detail, str(payload.get("type", ""))


def _form_answer(response: Response) -> dict[str, str]:
    return dict(parse_qsl(response.body.decode("utf-8", "replace")))


def _token_pair(answer: Mapping[str, str]) -> TokenPair:
    try:
        return TokenPair(answer["oauth_token"], answer["oauth_token_secret"])
    except KeyError:
        raise TwitterUnavailable("X sent an incomplete answer.") from None
