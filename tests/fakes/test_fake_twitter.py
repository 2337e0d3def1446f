"""The fake X provider verifies OAuth 1.0a like X does, so our client is tested against it."""

from __future__ import annotations

import io
import json
import struct
import time
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp
import pytest
from multidict import CIMultiDictProxy
from oauthlib.oauth1 import SIGNATURE_HMAC, Client

from tests.fakes.twitter import FORM_CONTENT_TYPE, MAX_IMAGE_BYTES, FakeTwitter, RecordedMedia

KEY = "test-consumer-key"
SECRET = "test-consumer-secret"
CALLBACK = "http://127.0.0.1:9/oauth/callback"
INVALID_REQUEST = "https://api.twitter.com/2/problems/invalid-request"


@dataclass
class Answer:
    """A response read to the end."""

    status: int
    headers: CIMultiDictProxy[str]
    text: str

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.text)

    def form(self) -> dict[str, str]:
        """The body as form-encoded pairs."""
        return dict(parse_qsl(self.text, keep_blank_values=True))


def client(**kwargs: Any) -> Client:
    """An oauthlib client for our consumer; ``kwargs`` override its credentials."""
    kwargs.setdefault("client_secret", SECRET)
    return Client(KEY, signature_method=SIGNATURE_HMAC, **kwargs)


async def send(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    body: str | aiohttp.FormData | None = None,
    **kwargs: Any,
) -> Answer:
    """POST an already signed request and read the answer; ``kwargs`` go to ``session.post``."""
    async with session.post(
        url, headers=headers, data=body, allow_redirects=False, **kwargs
    ) as resp:
        return Answer(resp.status, resp.headers, await resp.text())


async def post_signed(
    session: aiohttp.ClientSession,
    oauth: Client,
    url: str,
    *,
    form: dict[str, str] | None = None,
    json_body: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Answer:
    """Sign a POST with ``oauth`` (form bodies are signed, JSON ones are not) and send it."""
    if form is not None:
        uri, headers, body = oauth.sign(
            url,
            http_method="POST",
            body=urlencode(form),
            headers={"Content-Type": FORM_CONTENT_TYPE},
        )
        return await send(session, uri, headers, body)
    uri, headers, _ = oauth.sign(url, http_method="POST")
    if json_body is None:
        return await send(session, uri, headers)
    headers["Content-Type"] = "application/json"
    return await send(session, uri, headers, json.dumps(json_body), **kwargs)


async def request_token(session: aiohttp.ClientSession, fake: FakeTwitter) -> dict[str, str]:
    """Obtain a request token for CALLBACK."""
    url = f"{fake.base_url}/oauth/request_token"
    answer = await post_signed(session, client(callback_uri=CALLBACK), url)
    assert answer.status == 200, answer.text
    return answer.form()


async def authorize(
    session: aiohttp.ClientSession,
    fake: FakeTwitter,
    token: str,
    action: str = "authorize",
    username: str = "alice",
) -> str:
    """Submit the authorize form as ``username`` and return the redirect's Location."""
    form = {"oauth_token": token, "username": username, "action": action}
    url = f"{fake.base_url}/oauth/authorize"
    async with session.post(url, data=form, allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
        return resp.headers["Location"]


def callback_params(location: str) -> dict[str, str]:
    """The query parameters X put on our callback URL."""
    return dict(parse_qsl(urlsplit(location).query))


async def exchange(
    session: aiohttp.ClientSession, fake: FakeTwitter, rt: dict[str, str], verifier: str
) -> Answer:
    """Trade an authorized request token and its verifier for an access token."""
    oauth = client(
        resource_owner_key=rt["oauth_token"],
        resource_owner_secret=rt["oauth_token_secret"],
        verifier=verifier,
    )
    return await post_signed(session, oauth, f"{fake.base_url}/oauth/access_token")


async def link(
    session: aiohttp.ClientSession, fake: FakeTwitter, username: str = "alice"
) -> dict[str, str]:
    """Run the whole three-legged flow as ``username`` and return the access-token answer."""
    rt = await request_token(session, fake)
    location = await authorize(session, fake, rt["oauth_token"], username=username)
    answer = await exchange(session, fake, rt, callback_params(location)["oauth_verifier"])
    assert answer.status == 200, answer.text
    return answer.form()


def user_client(access: dict[str, str]) -> Client:
    """An oauthlib client signing as the holder of ``access``."""
    return client(
        resource_owner_key=access["oauth_token"],
        resource_owner_secret=access["oauth_token_secret"],
    )


async def tweet(
    session: aiohttp.ClientSession,
    fake: FakeTwitter,
    access: dict[str, str],
    text: str,
    media_ids: list[str] | None = None,
    **kwargs: Any,
) -> Answer:
    """POST /2/tweets as the holder of ``access``; ``kwargs`` go to ``session.post``."""
    body: dict[str, Any] = {"text": text}
    if media_ids is not None:
        body["media"] = {"media_ids": media_ids}
    url = f"{fake.base_url}/2/tweets"
    return await post_signed(session, user_client(access), url, json_body=body, **kwargs)


async def upload(
    session: aiohttp.ClientSession,
    fake: FakeTwitter,
    access: dict[str, str],
    fields: dict[str, bytes | str],
) -> Answer:
    """POST /2/media/upload as multipart form-data: bytes values go as file parts."""
    uri, headers, _ = user_client(access).sign(
        f"{fake.base_url}/2/media/upload", http_method="POST"
    )
    form = aiohttp.FormData(default_to_multipart=True)
    for name, value in fields.items():
        if isinstance(value, bytes):
            # A file object: aiohttp refuses to serialize a bytes value of several megabytes.
            form.add_field(
                name, io.BytesIO(value), filename="image", content_type="application/octet-stream"
            )
        else:
            form.add_field(name, value)
    return await send(session, uri, headers, form)


def png(width: int, height: int) -> bytes:
    """A valid RGB PNG of the given size, all black."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x00" * 3 * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def upload_png(
    session: aiohttp.ClientSession, fake: FakeTwitter, access: dict[str, str]
) -> str:
    """Upload a small PNG as a tweet_image and return its media id."""
    answer = await upload(
        session, fake, access, {"media": png(2, 3), "media_category": "tweet_image"}
    )
    assert answer.status == 200, answer.text
    media_id: str = answer.json()["data"]["id"]
    return media_id


def error_code(answer: Answer) -> int:
    """The code of a v1.1-style error answer."""
    code: int = answer.json()["errors"][0]["code"]
    return code


async def test_three_legged_flow_ends_in_a_posted_tweet() -> None:
    """Request token, authorize, access token, then a tweet recorded as alice's."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        rt = await request_token(session, fake)
        assert rt["oauth_callback_confirmed"] == "true"
        async with session.get(
            f"{fake.base_url}/oauth/authorize", params={"oauth_token": rt["oauth_token"]}
        ) as page:
            html = await page.text()
        assert page.status == 200
        assert "<title>Authorize app</title>" in html
        assert '<button name="action" value="authorize">Authorize app</button>' in html

        location = await authorize(session, fake, rt["oauth_token"])
        assert location.startswith(CALLBACK + "?")
        params = callback_params(location)
        assert params["oauth_token"] == rt["oauth_token"]
        answer = await exchange(session, fake, rt, params["oauth_verifier"])
        assert answer.status == 200
        assert answer.headers["Content-Type"] == FORM_CONTENT_TYPE
        assert answer.headers["x-access-level"] == "read-write"
        access = answer.form()
        assert access["screen_name"] == "alice"
        assert access["user_id"] == fake.users["alice"].user_id

        posted = await tweet(session, fake, access, "hello from tweetlink")
        assert posted.status == 201
        assert posted.headers["Content-Type"] == "application/json"
        data = posted.json()["data"]
        assert data["id"].isdigit()
        assert data["text"] == "hello from tweetlink"
        assert [(t.id, t.user_id, t.text) for t in fake.tweets] == [
            (data["id"], access["user_id"], "hello from tweetlink")
        ]
        assert ("POST", "/2/tweets") in fake.requests


async def test_tampered_request_is_refused() -> None:
    """A request that differs from what was signed gets 401 code 32."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        signed_url = f"{fake.base_url}/oauth/request_token?x_auth_access_type=read"
        _, headers, _ = client(callback_uri=CALLBACK).sign(signed_url, http_method="POST")
        sent_url = f"{fake.base_url}/oauth/request_token?x_auth_access_type=write"
        answer = await send(session, sent_url, headers)
        assert answer.status == 401
        assert error_code(answer) == 32


async def test_wrong_consumer_secret_is_refused() -> None:
    """A request signed with another consumer secret gets 401 code 32."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        oauth = client(client_secret="not-the-secret", callback_uri=CALLBACK)
        answer = await post_signed(session, oauth, f"{fake.base_url}/oauth/request_token")
        assert answer.status == 401
        assert error_code(answer) == 32


async def test_replayed_nonce_is_refused() -> None:
    """The same signed request sent twice is refused the second time with code 32."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        url = f"{fake.base_url}/oauth/request_token"
        uri, headers, _ = client(callback_uri=CALLBACK).sign(url, http_method="POST")
        assert (await send(session, uri, headers)).status == 200
        replay = await send(session, uri, headers)
        assert replay.status == 401
        assert error_code(replay) == 32


async def test_stale_timestamp_is_refused() -> None:
    """A timestamp an hour old gets 401 code 135."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        oauth = client(callback_uri=CALLBACK, timestamp=str(int(time.time()) - 3600))
        answer = await post_signed(session, oauth, f"{fake.base_url}/oauth/request_token")
        assert answer.status == 401
        assert error_code(answer) == 135


async def test_request_token_is_single_use() -> None:
    """A second exchange of the same request token and verifier gets 401 code 89."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        rt = await request_token(session, fake)
        verifier = callback_params(await authorize(session, fake, rt["oauth_token"]))
        assert (await exchange(session, fake, rt, verifier["oauth_verifier"])).status == 200
        again = await exchange(session, fake, rt, verifier["oauth_verifier"])
        assert again.status == 401
        assert error_code(again) == 89


async def test_wrong_verifier_is_refused() -> None:
    """An exchange with a verifier other than the one issued gets 401 code 89."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        rt = await request_token(session, fake)
        await authorize(session, fake, rt["oauth_token"])
        answer = await exchange(session, fake, rt, "not-the-verifier")
        assert answer.status == 401
        assert error_code(answer) == 89


async def test_cancel_redirects_with_denied_and_kills_the_token() -> None:
    """Cancel sends the browser to ``callback?denied=<token>``; the token is then refused."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        rt = await request_token(session, fake)
        location = await authorize(session, fake, rt["oauth_token"], action="cancel")
        assert location == f"{CALLBACK}?{urlencode({'denied': rt['oauth_token']})}"
        url = f"{fake.base_url}/oauth/authorize"
        async with session.get(url, params={"oauth_token": rt["oauth_token"]}) as page:
            assert page.status == 400


async def test_callback_with_a_query_gets_parameters_appended() -> None:
    """A callback that already has a query gets oauth_token and oauth_verifier after an ``&``."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        oauth = client(callback_uri=f"{CALLBACK}?flow=abc")
        rt = (await post_signed(session, oauth, f"{fake.base_url}/oauth/request_token")).form()
        location = await authorize(session, fake, rt["oauth_token"])
        assert location.startswith(f"{CALLBACK}?flow=abc&oauth_token=")
        assert callback_params(location)["flow"] == "abc"


async def test_invalidated_token_cannot_tweet() -> None:
    """After invalidate_token the access token gets a bare v2 401 from /2/tweets."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        access = await link(session, fake)
        oauth = client(
            resource_owner_key=access["oauth_token"],
            resource_owner_secret=access["oauth_token_secret"],
        )
        url = f"{fake.base_url}/1.1/oauth/invalidate_token"
        invalidated = await post_signed(session, oauth, url)
        assert invalidated.status == 200
        assert invalidated.headers["Content-Type"] == "application/json"
        assert invalidated.json() == {"access_token": access["oauth_token"]}
        assert fake.invalidated_tokens == {access["oauth_token"]}

        answer = await tweet(session, fake, access, "still there?")
        assert answer.status == 401
        assert answer.json() == {
            "title": "Unauthorized",
            "type": "about:blank",
            "status": 401,
            "detail": "Unauthorized",
        }
        assert fake.tweets == []


async def test_revoked_token_cannot_tweet() -> None:
    """A token the user revoked on twitter.com gets 401 from /2/tweets."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        access = await link(session, fake)
        fake.revoke(access["oauth_token"])
        answer = await tweet(session, fake, access, "still there?")
        assert answer.status == 401
        assert answer.json()["title"] == "Unauthorized"


async def test_read_only_token_cannot_tweet() -> None:
    """A token issued to a read-only app gets 403 with the oauth1-permissions problem."""
    async with (
        FakeTwitter(KEY, SECRET, granted_access_level="read") as fake,
        aiohttp.ClientSession() as session,
    ):
        rt = await request_token(session, fake)
        verifier = callback_params(await authorize(session, fake, rt["oauth_token"]))
        answer = await exchange(session, fake, rt, verifier["oauth_verifier"])
        assert answer.headers["x-access-level"] == "read"
        posted = await tweet(session, fake, answer.form(), "hello")
        assert posted.status == 403
        problem = posted.json()
        assert problem["type"] == "https://api.twitter.com/2/problems/oauth1-permissions"
        assert problem["status"] == 403
        assert fake.tweets == []


async def test_unavailable_answers_503_over_capacity() -> None:
    """While unavailable, every endpoint answers 503 code 130."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        fake.unavailable = True
        oauth = client(callback_uri=CALLBACK)
        answer = await post_signed(session, oauth, f"{fake.base_url}/oauth/request_token")
        assert answer.status == 503
        assert answer.json() == {"errors": [{"code": 130, "message": "Over capacity"}]}


async def test_unapproved_callback_is_refused() -> None:
    """A callback outside allowed_callbacks gets 403 code 415."""
    allowed = ["http://127.0.0.1:9/elsewhere"]
    async with (
        FakeTwitter(KEY, SECRET, allowed_callbacks=allowed) as fake,
        aiohttp.ClientSession() as session,
    ):
        oauth = client(callback_uri=CALLBACK)
        answer = await post_signed(session, oauth, f"{fake.base_url}/oauth/request_token")
        assert answer.status == 403
        assert error_code(answer) == 415


async def test_missing_callback_is_refused() -> None:
    """A request token asked for without oauth_callback gets 400 code 215."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        answer = await post_signed(session, client(), f"{fake.base_url}/oauth/request_token")
        assert answer.status == 400
        assert error_code(answer) == 215


async def test_expired_request_token_is_refused() -> None:
    """A request token past its lifetime gets the 400 page instead of the authorize form."""
    async with (
        FakeTwitter(KEY, SECRET, request_token_ttl=0) as fake,
        aiohttp.ClientSession() as session,
    ):
        rt = await request_token(session, fake)
        url = f"{fake.base_url}/oauth/authorize"
        async with session.get(url, params={"oauth_token": rt["oauth_token"]}) as page:
            assert page.status == 400
            assert "expired" in await page.text()


async def test_form_body_parameters_are_signed() -> None:
    """x_auth_access_type=read sent in a signed form body yields a read-only token."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        oauth = client(callback_uri=CALLBACK)
        url = f"{fake.base_url}/oauth/request_token"
        answer = await post_signed(session, oauth, url, form={"x_auth_access_type": "read"})
        rt = answer.form()
        verifier = callback_params(await authorize(session, fake, rt["oauth_token"]))
        exchanged = await exchange(session, fake, rt, verifier["oauth_verifier"])
        assert exchanged.headers["x-access-level"] == "read"


async def test_html_values_are_escaped() -> None:
    """A username with markup is refused on a page that shows it escaped."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        rt = await request_token(session, fake)
        form = {"oauth_token": rt["oauth_token"], "username": "<b>x</b>", "action": "authorize"}
        async with session.post(f"{fake.base_url}/oauth/authorize", data=form) as page:
            html = await page.text()
        assert page.status == 400
        assert "&lt;b&gt;x&lt;/b&gt;" in html
        assert "<b>x</b>" not in html


async def test_media_upload_answers_like_x_and_records_the_image() -> None:
    """A PNG upload gets 200 with data.id, a 3_ media_key and image details, and is recorded."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        access = await link(session, fake)
        image = png(2, 3)
        fields: dict[str, bytes | str] = {"media": image, "media_category": "tweet_image"}
        answer = await upload(session, fake, access, fields)
        assert answer.status == 200, answer.text
        assert answer.headers["Content-Type"] == "application/json"
        data = answer.json()["data"]
        assert data["id"].isdigit()
        assert data == {
            "id": data["id"],
            "media_key": f"3_{data['id']}",
            "size": len(image),
            "expires_after_secs": 86400,
            "image": {"image_type": "image/png", "w": 2, "h": 3},
        }
        assert fake.media == {
            data["id"]: RecordedMedia(
                id=data["id"], user_id=access["user_id"], data=image, media_category="tweet_image"
            )
        }


async def test_media_upload_refuses_bytes_that_are_no_image() -> None:
    """Bytes without PNG, JPEG, GIF or WEBP magic get 400 invalid-request."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        access = await link(session, fake)
        fields: dict[str, bytes | str] = {
            "media": b"%PDF-1.7 not an image",
            "media_category": "tweet_image",
        }
        answer = await upload(session, fake, access, fields)
        assert answer.status == 400
        assert answer.json()["type"] == INVALID_REQUEST
        assert fake.media == {}


async def test_media_upload_refuses_an_image_over_5_mb() -> None:
    """An image one byte over 5 MB gets our 400 invalid-request, not aiohttp's 413."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        access = await link(session, fake)
        image = png(1, 1)
        image += b"\x00" * (MAX_IMAGE_BYTES + 1 - len(image))
        fields: dict[str, bytes | str] = {"media": image, "media_category": "tweet_image"}
        answer = await upload(session, fake, access, fields)
        assert answer.status == 400
        assert answer.json()["type"] == INVALID_REQUEST
        assert fake.media == {}


async def test_media_upload_accepts_an_image_of_exactly_5_mb() -> None:
    """An image of exactly 5 * 1024 * 1024 bytes is accepted."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        access = await link(session, fake)
        image = png(1, 1)
        image += b"\x00" * (MAX_IMAGE_BYTES - len(image))
        fields: dict[str, bytes | str] = {"media": image, "media_category": "tweet_image"}
        answer = await upload(session, fake, access, fields)
        assert answer.status == 200, answer.text
        assert answer.json()["data"]["size"] == MAX_IMAGE_BYTES


async def test_media_upload_refuses_a_missing_media_part() -> None:
    """A multipart body without the media part gets 400 invalid-request."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        access = await link(session, fake)
        answer = await upload(session, fake, access, {"media_category": "tweet_image"})
        assert answer.status == 400
        assert answer.json()["type"] == INVALID_REQUEST


async def test_media_upload_refuses_a_missing_media_category() -> None:
    """A multipart body without media_category gets 400 invalid-request."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        access = await link(session, fake)
        answer = await upload(session, fake, access, {"media": png(1, 1)})
        assert answer.status == 400
        assert answer.json()["type"] == INVALID_REQUEST
        assert fake.media == {}


async def test_media_upload_with_a_bad_signature_is_refused() -> None:
    """An upload signed with a revoked token gets the bare v2 401."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        access = await link(session, fake)
        fake.revoke(access["oauth_token"])
        fields: dict[str, bytes | str] = {"media": png(1, 1), "media_category": "tweet_image"}
        answer = await upload(session, fake, access, fields)
        assert answer.status == 401
        assert answer.json()["title"] == "Unauthorized"


async def test_tweet_with_own_media_is_recorded() -> None:
    """A tweet whose media_ids were uploaded by the same user gets 201 and keeps them."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        access = await link(session, fake)
        media_id = await upload_png(session, fake, access)
        answer = await tweet(session, fake, access, "look", media_ids=[media_id])
        assert answer.status == 201, answer.text
        assert [(t.text, t.media_ids) for t in fake.tweets_by("alice")] == [("look", [media_id])]


async def test_tweet_with_someone_elses_media_is_refused() -> None:
    """Media uploaded by bob cannot be attached by alice: 400 "Your media IDs are invalid."."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        alice = await link(session, fake, "alice")
        bob = await link(session, fake, "bob")
        bobs_media = await upload_png(session, fake, bob)
        answer = await tweet(session, fake, alice, "not mine", media_ids=[bobs_media])
        assert answer.status == 400
        problem = answer.json()
        assert problem["type"] == INVALID_REQUEST
        assert problem["errors"] == [
            {
                "parameters": {"media.media_ids": [bobs_media]},
                "message": "Your media IDs are invalid.",
            }
        ]
        assert fake.tweets == []


async def test_duplicate_text_gets_403() -> None:
    """The same user posting the same text again gets X's duplicate-content 403."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        access = await link(session, fake)
        assert (await tweet(session, fake, access, "same words")).status == 201
        again = await tweet(session, fake, access, "same words")
        assert again.status == 403
        assert again.json() == {
            "detail": "You are not allowed to create a Tweet with duplicate content.",
            "type": "about:blank",
            "title": "Forbidden",
            "status": 403,
        }
        assert len(fake.tweets_by("alice")) == 1


async def test_same_text_from_another_user_is_no_duplicate() -> None:
    """Duplicate content is per user: bob may post what alice posted."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        alice = await link(session, fake, "alice")
        bob = await link(session, fake, "bob")
        assert (await tweet(session, fake, alice, "same words")).status == 201
        assert (await tweet(session, fake, bob, "same words")).status == 201
        assert [t.text for t in fake.tweets_by("bob")] == ["same words"]


async def test_rate_limit_answers_429_with_headers() -> None:
    """With tweet_rate_limit=2 the third request gets 429, remaining 0 and the reset time."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        fake.tweet_rate_limit = 2
        access = await link(session, fake)
        started = int(time.time())
        answers = [await tweet(session, fake, access, f"post {n}") for n in range(3)]
        assert [a.status for a in answers] == [201, 201, 429]
        assert [a.headers["x-rate-limit-limit"] for a in answers] == ["2", "2", "2"]
        assert [a.headers["x-rate-limit-remaining"] for a in answers] == ["1", "0", "0"]
        resets = {a.headers["x-rate-limit-reset"] for a in answers}
        assert len(resets) == 1
        assert started + 900 <= int(resets.pop()) <= int(time.time()) + 900
        assert answers[2].json() == {
            "title": "Too Many Requests",
            "detail": "Too Many Requests",
            "type": "about:blank",
            "status": 429,
        }
        assert len(fake.tweets) == 2


async def test_refused_requests_count_toward_the_rate_limit() -> None:
    """X counts requests, not posts: a refused duplicate spends the last request of the window."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        fake.tweet_rate_limit = 2
        access = await link(session, fake)
        assert (await tweet(session, fake, access, "once")).status == 201
        duplicate = await tweet(session, fake, access, "once")
        assert duplicate.status == 403
        assert duplicate.headers["x-rate-limit-remaining"] == "0"
        assert (await tweet(session, fake, access, "something new")).status == 429


async def test_exhausted_credits_answer_402() -> None:
    """With credits_exhausted, /2/tweets gets 402 CreditsDepleted and records nothing."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        fake.credits_exhausted = True
        access = await link(session, fake)
        answer = await tweet(session, fake, access, "hello")
        assert answer.status == 402
        assert answer.json() == {
            "title": "CreditsDepleted",
            "detail": (
                f"Your enrolled account [{access['user_id']}] does not have any credits"
                " to fulfill this request."
            ),
            "type": "https://api.twitter.com/2/problems/credits",
        }
        assert answer.headers["x-rate-limit-remaining"] == "99"
        assert fake.tweets == []


async def test_exhausted_credits_refuse_media_upload_with_402() -> None:
    """With credits_exhausted, /2/media/upload gets 402 CreditsDepleted and records nothing."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        fake.credits_exhausted = True
        access = await link(session, fake)
        fields: dict[str, bytes | str] = {"media": png(1, 1), "media_category": "tweet_image"}
        answer = await upload(session, fake, access, fields)
        assert answer.status == 402
        assert answer.json()["title"] == "CreditsDepleted"
        assert fake.media == {}


async def test_fail_next_tweets_answers_503_and_records_nothing() -> None:
    """fail_next_tweets=[503] fails one call with a v2 503 and no tweet; the next call posts."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        access = await link(session, fake)
        fake.fail_next_tweets = [503]
        failed = await tweet(session, fake, access, "hello")
        assert failed.status == 503
        assert failed.json() == {
            "title": "Service Unavailable",
            "detail": "Service Unavailable",
            "type": "about:blank",
            "status": 503,
        }
        assert "x-rate-limit-remaining" in failed.headers
        assert fake.tweets == []
        assert fake.fail_next_tweets == []
        assert (await tweet(session, fake, access, "hello")).status == 201


@pytest.mark.parametrize(
    ("how", "status"),
    [("revoked", 401), ("read-only", 403), ("credits", 402), ("rate limit", 429), ("503", 503)],
)
async def test_refuse_next_tweet_refuses_that_users_next_tweet_only(how: str, status: int) -> None:
    """One-shot: the user's next call is refused and records nothing; then it posts again, and
    another user's call in between is not refused."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        alice = await link(session, fake, "alice")
        bob = await link(session, fake, "bob")
        fake.refuse_next_tweet("alice", how)
        assert (await tweet(session, fake, bob, "bob first")).status == 201
        refused = await tweet(session, fake, alice, "hello")
        assert refused.status == status
        if how == "rate limit":
            assert refused.headers["x-rate-limit-remaining"] == "0"
        assert (await tweet(session, fake, alice, "hello")).status == 201
        assert [t.text for t in fake.tweets] == ["bob first", "hello"]


async def test_tweet_delay_posts_even_when_the_client_gives_up() -> None:
    """A client that times out during tweet_delay leaves a tweet that was in fact posted."""
    async with FakeTwitter(KEY, SECRET) as fake, aiohttp.ClientSession() as session:
        access = await link(session, fake)
        fake.tweet_delay = 30.0
        with pytest.raises(TimeoutError):
            await tweet(session, fake, access, "did it?", timeout=aiohttp.ClientTimeout(total=0.2))
        assert [t.text for t in fake.tweets_by("alice")] == ["did it?"]
