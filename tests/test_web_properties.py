"""Whatever arrives at the web pages (paths, query strings, form bodies, headers), the answer is
never a 5xx and nothing is logged as an error or with a traceback."""

from __future__ import annotations

import logging
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from core.config import Settings
from tests.fakes.discord import FakeDiscord
from tests.support.linked_roles import with_linked_roles
from tests.support.raw_http import assert_quiet, exchange, post
from tweetlink.services import Services

EXAMPLES = hypothesis_settings(
    max_examples=60,
    deadline=None,
    # One server and one flow serve every example; each example clears the captured log.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
PATHS = [
    "/",
    "/link/",
    "/oauth/callback",
    "/linked-role",
    "/discord/callback",
    "/healthz",
    "/metrics",
    "/favicon.ico",
]
QUERY_NAMES = ["oauth_token", "oauth_verifier", "denied", "state", "code", "error", "x"]
DISCORD_USER_ID = 333_333_333_333_333_333
# Header names and values as HTTP allows them to be written on the wire.
TOKEN_CHARS = st.characters(
    codec="ascii", categories=["L", "N"], include_characters="-_.!#$%&'*+^`|~"
)
FIELD_VALUE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200)


def escaped(raw: bytes) -> str:
    """Any bytes, %-escaped for a request line."""
    return quote(raw, safe="/=&?")


@st.composite
def targets(draw: st.DrawFn) -> str:
    """A path (perhaps a real page's) with junk after it, and perhaps a query string."""
    path = draw(st.sampled_from(PATHS)) + escaped(draw(st.binary(max_size=80)))
    pairs = draw(
        st.lists(st.tuples(st.sampled_from(QUERY_NAMES), st.binary(max_size=80)), max_size=4)
    )
    if pairs:
        path += "?" + "&".join(f"{name}={escaped(value)}" for name, value in pairs)
    return path


@pytest.fixture
def settings(settings: Settings, fake_discord: FakeDiscord) -> Settings:
    """Linked Roles set up, so their pages are under test too."""
    return with_linked_roles(settings, fake_discord)


@pytest.fixture
async def link_path(services: Services, web_server: str) -> str:
    started = await services.links.start(DISCORD_USER_ID, "alice#0")
    return urlsplit(services.settings.link_url(started.intent_id)).path


@EXAMPLES
@given(
    target=targets(),
    headers=st.lists(
        st.tuples(st.text(TOKEN_CHARS, min_size=1, max_size=20), FIELD_VALUE), max_size=5
    ),
)
async def test_any_get_is_answered_below_500(
    web_server: str, caplog: pytest.LogCaptureFixture, target: str, headers: list[tuple[str, str]]
) -> None:
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [
        f"{name}: {value}"
        for name, value in headers
        if name.lower() not in {"host", "connection", "content-length", "transfer-encoding"}
    ]
    status, page = await exchange(web_server, ("\r\n".join(lines) + "\r\n\r\n").encode())
    assert status < 500, page
    assert_quiet(caplog)


CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=latin-1",
            "multipart/form-data; boundary=b",
            "application/json",
            "text/plain",
        ]
    ),
    FIELD_VALUE,
)


@EXAMPLES
@given(content_type=CONTENT_TYPES, body=st.binary(max_size=2000))
async def test_any_continue_is_answered_below_500(
    link_path: str,
    web_server: str,
    caplog: pytest.LogCaptureFixture,
    content_type: str,
    body: bytes,
) -> None:
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    status, page = await exchange(web_server, post(link_path, content_type, body))
    assert status < 500, page
    assert_quiet(caplog)


@EXAMPLES
@given(
    content_type=CONTENT_TYPES,
    body=st.binary(max_size=2000),
    cookie=st.one_of(st.none(), FIELD_VALUE),
)
async def test_any_linked_role_press_is_answered_below_500(
    web_server: str,
    caplog: pytest.LogCaptureFixture,
    content_type: str,
    body: bytes,
    cookie: str | None,
) -> None:
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    headers = f"Cookie: {cookie}\r\n" if cookie is not None else ""
    status, page = await exchange(
        web_server, post("/linked-role", content_type, body, headers=headers)
    )
    assert status < 500, page
    assert_quiet(caplog)
