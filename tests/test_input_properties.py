"""Whatever an operator or a member types, it is taken or refused in words: every setting in
`.env`, the code typed in the Enter-code modal, a `/tweet` text and each admin option. Never
another exception, never a half-done change."""

from __future__ import annotations

import unicodedata
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from twitter_text.has_invalid_characters import has_invalid_characters

from core import errors
from core.audit import Actor
from core.clock import utcnow
from core.config import Settings, describe_error
from core.policy import MAX_CAP, POLICY_FIELDS
from core.tweet_text import MAX_WEIGHTED_LENGTH, measure
from core.tweets import Where
from tests.fakes.twitter import FakeTwitter
from tests.support.member_browser import MemberBrowser, link_member
from tweetlink.services import Services, open_services

VALID_ENV = Path(__file__).parent / "data" / "valid.env"
MEMBER = 444_444_444_444_444_444
GUILD = 555_555_555_555_555_555

EXAMPLES = settings(
    max_examples=80,
    deadline=None,
    # The database and fakes of one test serve all its examples; each example stands alone.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
# What fits in an environment variable: any text but NUL.
ENV_TEXT = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=60)
NUMBERISH = st.one_of(
    st.integers().map(str),
    st.floats().map(str),
    st.sampled_from(["1e400", "-0", " 7 ", "0x10", "1_000", "inf", "nan"]),
)
DURATIONS = [
    "twitter_timeout_seconds",
    "link_intent_ttl_seconds",
    "confirmation_code_ttl_seconds",
    "tweet_cooldown_seconds",
    "housekeeping_interval_seconds",
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


@EXAMPLES
@given(
    name=st.sampled_from(sorted(Settings.model_fields)),
    value=st.one_of(ENV_TEXT, NUMBERISH),
)
async def test_any_setting_loads_usable_or_is_refused_in_one_line(
    tmp_path: Path, name: str, value: str
) -> None:
    try:
        loaded = Settings(_env_file=VALID_ENV, **{name: value})  # type: ignore[arg-type]
    except ValidationError as error:
        line = describe_error(error)
        assert "\n" not in line
        assert line.startswith(f"configuration error: {name.upper()} ") or line.endswith(
            f"{name.upper()} is not set"
        ), line
        if len(value.strip()) >= 12:
            assert value.strip() not in line  # a mistyped secret is never echoed
        return
    # What loads is usable: the services build, and every duration lands on a real date.
    loaded = loaded.model_copy(update={"database_url": f"sqlite+aiosqlite:///{tmp_path}/t.db"})
    async with open_services(loaded):
        pass
    now = utcnow()
    for duration in DURATIONS:
        assert now + timedelta(seconds=getattr(loaded, duration)) >= now


@pytest.fixture
async def code_flow(
    services: Services, web_server: str, fake_twitter: FakeTwitter
) -> tuple[Services, str]:
    """A flow waiting for its code; the code X's callback page showed."""
    started = await services.links.start(MEMBER, "alice#0")
    async with aiohttp.ClientSession() as http:
        page = await MemberBrowser(http).authorize(services.settings.link_url(started.intent_id))
    return services, page.code


@EXAMPLES
@given(typed=st.text(max_size=40))
async def test_any_typed_code_links_only_if_it_is_the_code(
    code_flow: tuple[Services, str], typed: str
) -> None:
    services, code = code_flow
    assume(typed.strip() != code)
    with pytest.raises((errors.MalformedCode, errors.WrongCode, errors.TooManyAttempts)):
        await services.links.confirm(MEMBER, typed)
    assert await services.links.get(MEMBER) is None


TWEET_TEXT = st.one_of(
    st.text(max_size=300),
    # Around the limit, in characters X weighs 1 and 2, with URLs that weigh 23.
    st.lists(
        st.sampled_from(["a", "é", "漢", "👍🏽", " ", "\n", "https://x.com/a ", "\x00", "\ufeff"]),
        max_size=300,
    ).map("".join),
)


@pytest.fixture
async def linked(services: Services, web_server: str, fake_twitter: FakeTwitter) -> Services:
    await link_member(services, MEMBER, "alice")
    return services


@EXAMPLES
@given(text=TWEET_TEXT)
async def test_any_tweet_text_is_drafted_exactly_when_x_would_take_it(
    linked: Services, text: str
) -> None:
    where = Where(member_id=MEMBER, guild_id=GUILD, channel_id=1)
    fits = (
        bool(text.strip())
        and measure(text).weighted_length <= MAX_WEIGHTED_LENGTH
        and "\x00" not in text
        and not has_invalid_characters(unicodedata.normalize("NFC", text))
    )
    if fits:
        draft = await linked.tweets.prepare(where, text)
        assert draft.weighted_length == measure(text).weighted_length
        await linked.tweets.cancel(draft.id, MEMBER)
    else:
        with pytest.raises(errors.TweetInvalid):
            await linked.tweets.prepare(where, text)


BIG_INTS = st.one_of(st.integers(), st.integers(min_value=-(2**64), max_value=2**64))
POLICY_VALUES = {
    "tweeting_enabled": st.booleans(),
    "required_role_id": st.one_of(st.none(), BIG_INTS),
    "daily_cap": st.one_of(st.none(), BIG_INTS),
    "member_daily_cap": st.one_of(st.none(), BIG_INTS),
    "announce_channel_id": st.one_of(st.none(), BIG_INTS),
}


def acceptable(name: str, value: object) -> bool:
    """The rule: caps from 0 to MAX_CAP, ids Discord snowflakes, None clears either."""
    if value is None or isinstance(value, bool):
        return True
    assert isinstance(value, int)
    if name.endswith("_cap"):
        return 0 <= value <= MAX_CAP
    return 0 < value < 2**63


@EXAMPLES
@given(changes=st.fixed_dictionaries({}, optional=POLICY_VALUES))
async def test_any_admin_setting_is_stored_or_refused_in_words(
    services: Services, changes: dict[str, object]
) -> None:
    assert set(POLICY_VALUES) == POLICY_FIELDS
    before = await services.policy.get(GUILD)
    if all(acceptable(name, value) for name, value in changes.items()):
        after = await services.policy.update(Actor(MEMBER), GUILD, **changes)
        assert await services.policy.get(GUILD) == after
        for name, value in changes.items():
            assert getattr(after, name) == value
    else:
        with pytest.raises(errors.InvalidPolicy):
            await services.policy.update(Actor(MEMBER), GUILD, **changes)
        assert await services.policy.get(GUILD) == before  # nothing half-changed
