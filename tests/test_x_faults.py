"""X answering badly after doing its part (tests/fakes/faults.py), at each call a post, a
deletion or an unlink makes: the member gets words, a tweet X may have posted is `unknown` and
never sent again, nothing is recorded as posted (or deleted) that was not, and an unlink still
unlinks."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from core import errors
from core.config import Settings
from core.models import Tweet, TweetStatus
from core.tweets import Image, Where
from tests.fakes.faults import FAULTS, Fault
from tests.fakes.twitter import FakeTwitter
from tests.support.images import png
from tests.support.member_browser import link_member
from tweetlink.services import Services

ALICE = 510_000_000_000_000_001
AT_ALICE = Where(member_id=ALICE, guild_id=610_000_000_000_000_001, channel_id=1)
TIMEOUT_SECONDS = 1


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """X's answers are given up on after a second, so that a "slow" one times out quickly."""
    return settings.model_copy(update={"twitter_timeout_seconds": TIMEOUT_SECONDS})


@pytest.fixture
async def alice(services: Services, web_server: str) -> int:
    await link_member(services, ALICE, "alice_x")
    return ALICE


async def ledger(services: Services) -> list[Tweet]:
    async with services.sessions() as session:
        return list(await session.scalars(select(Tweet).order_by(Tweet.id)))


def posts_sent(fake: FakeTwitter) -> int:
    return fake.requests.count(("POST", "/2/tweets"))


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_broken_answer_to_the_post_is_unknown_and_never_sent_again(
    services: Services, fake_twitter: FakeTwitter, alice: int, fault: Fault
) -> None:
    fake_twitter.faults.break_next("POST /2/tweets", fault)
    draft = await services.tweets.prepare(AT_ALICE, f"hello ({fault})")

    with pytest.raises(errors.TwitterMaybePosted) as raised:
        await services.tweets.post(draft.id, AT_ALICE)

    assert "may or may not have been posted" in str(raised.value)
    assert len(fake_twitter.tweets_by("alice_x")) == 1  # X did post it
    [row] = await ledger(services)
    assert (row.status, row.tweet_id) == (TweetStatus.UNKNOWN, None)
    with pytest.raises(errors.DraftGone):
        await services.tweets.post(draft.id, AT_ALICE)
    assert posts_sent(fake_twitter) == 1


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_broken_answer_to_the_upload_posts_nothing(
    services: Services, fake_twitter: FakeTwitter, alice: int, fault: Fault
) -> None:
    fake_twitter.faults.break_next("POST /2/media/upload", fault)
    draft = await services.tweets.prepare(AT_ALICE, "a picture", Image(png()))

    with pytest.raises(errors.TwitterUnavailable) as raised:
        await services.tweets.post(draft.id, AT_ALICE)

    assert "Nothing was posted" in str(raised.value)
    assert posts_sent(fake_twitter) == 0
    assert await ledger(services) == []  # no row: usage and caps are as before


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_broken_answer_to_the_revocation_still_unlinks(
    services: Services,
    fake_twitter: FakeTwitter,
    alice: int,
    fault: Fault,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """X did revoke the token in every case; only a 200 tells us so, and we say what we know."""
    fake_twitter.faults.break_next("POST /1.1/oauth/invalidate_token", fault)

    with caplog.at_level(logging.WARNING):
        unlinked = await services.links.unlink(ALICE)

    assert unlinked.revoked_at_twitter is (fault == "not json")
    warned = [r for r in caplog.records if "could not revoke" in r.getMessage()]
    assert len(warned) == (0 if unlinked.revoked_at_twitter else 1)
    with pytest.raises(errors.NotLinked):
        await services.links.unlink(ALICE)


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_broken_answer_to_a_deletion_says_not_deleted_and_a_later_press_settles_it(
    services: Services, fake_twitter: FakeTwitter, alice: int, fault: Fault
) -> None:
    """X deleted it, but we cannot know: not recorded deleted; pressing again, X says it is
    gone, and then it is."""
    draft = await services.tweets.prepare(AT_ALICE, f"to delete ({fault})")
    tweet_id = (await services.tweets.post(draft.id, AT_ALICE)).tweet_id
    fake_twitter.faults.break_next(f"DELETE /2/tweets/{tweet_id}", fault)

    with pytest.raises(errors.TwitterUnavailable) as raised:
        await services.tweets.delete(tweet_id, ALICE)

    assert "The tweet may not be deleted yet; please try again" in str(raised.value)
    assert fake_twitter.tweets_by("alice_x")[0].deleted
    [row] = await ledger(services)
    assert row.deleted_at is None
    assert await services.tweets.delete(tweet_id, ALICE) is False  # already gone at X
    [row] = await ledger(services)
    assert row.deleted_at is not None


async def test_a_broken_answer_then_a_good_one(
    services: Services, fake_twitter: FakeTwitter, alice: int
) -> None:
    """Faults are one-shot: the next post goes through and is recorded posted with its id."""
    fake_twitter.faults.break_next("POST /2/tweets", "reset")
    first = await services.tweets.prepare(AT_ALICE, "first")
    with pytest.raises(errors.TwitterMaybePosted):
        await services.tweets.post(first.id, AT_ALICE)

    second = await services.tweets.prepare(AT_ALICE, "second")
    posted = await services.tweets.post(second.id, AT_ALICE)

    statuses = [(row.status, row.tweet_id) for row in await ledger(services)]
    assert statuses == [(TweetStatus.UNKNOWN, None), (TweetStatus.POSTED, posted.tweet_id)]
