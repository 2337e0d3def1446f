"""The fake X provider verifies OAuth 1.0a like X does, so our client is tested against it."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp
from multidict import CIMultiDictProxy
from oauthlib.oauth1 import SIGNATURE_HMAC, Client

from tests.fakes.twitter import FORM_CONTENT_TYPE, FakeTwitter

KEY = "test-consumer-key"
SECRET = "test-consumer-secret"
CALLBACK = "http://127.0.0.1:9/oauth/callback"


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
    body: str | None = None,
) -> Answer:
    """POST an already signed request and read the answer."""
    async with session.post(url, headers=headers, data=body, allow_redirects=False) as resp:
        return Answer(resp.status, resp.headers, await resp.text())


async def post_signed(
    session: aiohttp.ClientSession,
    oauth: Client,
    url: str,
    *,
    form: dict[str, str] | None = None,
    json_body: dict[str, Any] | None = None,
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
    return await send(session, uri, headers, json.dumps(json_body))


async def request_token(session: aiohttp.ClientSession, fake: FakeTwitter) -> dict[str, str]:
    """Obtain a request token for CALLBACK."""
    url = f"{fake.base_url}/oauth/request_token"
    answer = await post_signed(session, client(callback_uri=CALLBACK), url)
    assert answer.status == 200, answer.text
    return answer.form()


async def authorize(
    session: aiohttp.ClientSession, fake: FakeTwitter, token: str, action: str = "authorize"
) -> str:
    """Submit the authorize form as alice and return the redirect's Location."""
    form = {"oauth_token": token, "username": "alice", "action": action}
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


async def link(session: aiohttp.ClientSession, fake: FakeTwitter) -> dict[str, str]:
    """Run the whole three-legged flow and return the access-token answer."""
    rt = await request_token(session, fake)
    location = await authorize(session, fake, rt["oauth_token"])
    answer = await exchange(session, fake, rt, callback_params(location)["oauth_verifier"])
    assert answer.status == 200, answer.text
    return answer.form()


async def tweet(
    session: aiohttp.ClientSession, fake: FakeTwitter, access: dict[str, str], text: str
) -> Answer:
    """POST /2/tweets as the holder of ``access``."""
    oauth = client(
        resource_owner_key=access["oauth_token"],
        resource_owner_secret=access["oauth_token_secret"],
    )
    url = f"{fake.base_url}/2/tweets"
    return await post_signed(session, oauth, url, json_body={"text": text})


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
        FakeTwitter(KEY, SECRET, access_level="read") as fake,
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
