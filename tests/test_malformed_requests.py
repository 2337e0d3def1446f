"""Requests no browser sends, written byte for byte: each gets a 4xx page and at most one log
line, never a 500 or a traceback."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import pytest

from tests.fakes.twitter import FakeTwitter
from tests.support.raw_http import assert_quiet, exchange, post
from tweetlink.services import Services

DISCORD_USER_ID = 333_333_333_333_333_333


@pytest.fixture
async def link_path(services: Services, web_server: str) -> str:
    started = await services.links.start(DISCORD_USER_ID, "alice#0")
    return urlsplit(services.settings.link_url(started.intent_id)).path


MALFORMED_FORMS = {
    "multipart without a boundary": ("multipart/form-data", b"csrf_token=x"),
    "multipart cut short": (
        "multipart/form-data; boundary=b",
        b'--b\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\nx',
    ),
    "a form that is not UTF-8": ("application/x-www-form-urlencoded", b"csrf_token=\xff\xfe"),
    "an unknown charset": ("application/x-www-form-urlencoded; charset=bogus-1", b"csrf_token=x"),
    "JSON": ("application/json", b'{"csrf_token": "x"}'),
    "no content type at all": ("", b"csrf_token=x"),
    "a content type Python's parser trips on": (";0*", b"csrf_token=x"),
}


@pytest.mark.parametrize(("content_type", "body"), MALFORMED_FORMS.values(), ids=MALFORMED_FORMS)
async def test_a_malformed_continue_is_a_4xx_page_and_starts_nothing(
    link_path: str,
    web_server: str,
    fake_twitter: FakeTwitter,
    caplog: pytest.LogCaptureFixture,
    content_type: str,
    body: bytes,
) -> None:
    caplog.set_level(logging.DEBUG)
    status, page = await exchange(web_server, post(link_path, content_type, body))
    assert status in (400, 415), page
    assert "Open the link the bot sent you" in page
    assert ("POST", "/oauth/request_token") not in fake_twitter.requests
    assert_quiet(caplog)


async def test_a_form_over_the_size_limit_is_413(
    link_path: str, web_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = b"csrf_token=" + b"x" * 100_000
    status, page = await exchange(
        web_server, post(link_path, "application/x-www-form-urlencoded", body)
    )
    assert status == 413, page
    assert_quiet(caplog)


@pytest.mark.parametrize(
    "path",
    ["/link/%ff%fe", "/link/%00", "/oauth/callback?oauth_token=%ff&oauth_verifier=%zz"],
    ids=["invalid UTF-8 in the path", "NUL in the path", "broken escapes in the query"],
)
async def test_odd_paths_and_queries_are_4xx(
    web_server: str, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    caplog.set_level(logging.DEBUG)
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    status, page = await exchange(web_server, request.encode())
    assert 400 <= status < 500, page
    assert_quiet(caplog)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nNo colon here\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
    ],
    ids=["a request line over 8 KB", "a header over 8 KB", "a header with no colon", "HTTP/9.9"],
)
async def test_garbage_is_a_400_and_one_warning_line(
    web_server: str, caplog: pytest.LogCaptureFixture, request_bytes: bytes
) -> None:
    """aiohttp's parser refuses these before our app sees them; its log of each is one line."""
    caplog.set_level(logging.DEBUG)
    status, _ = await exchange(web_server, request_bytes)
    assert status == 400
    assert_quiet(caplog)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "malformed request" in warnings[0].getMessage()
    assert "\n" not in warnings[0].getMessage()
