"""Delete from X through the core service against the fake X, on every database: the author
only, once, within the window, with X's refusals in words; usage still counts the post."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core import errors
from core.clock import utcnow
from core.models import Tweet
from core.tweets import Limits, TweetService, Where
from tests.fakes.twitter import FakeTwitter
from tests.support.member_browser import link_member
from tweetlink.services import Services

ALICE = 520_000_000_000_000_001
BOB = 520_000_000_000_000_002
AT_ALICE = Where(member_id=ALICE, guild_id=620_000_000_000_000_001, channel_id=1)


@pytest.fixture
async def posted(services: Services, web_server: str) -> str:
    """Alice, linked to @alice_x, has posted one tweet; its X id."""
    await link_member(services, ALICE, "alice_x")
    draft = await services.tweets.prepare(AT_ALICE, "soon taken back")
    return (await services.tweets.post(draft.id, AT_ALICE)).tweet_id


async def deleted_at(services: Services, tweet_id: str) -> object:
    async with services.sessions() as session:
        return await session.scalar(select(Tweet.deleted_at).where(Tweet.tweet_id == tweet_id))


def deletes_sent(fake: FakeTwitter) -> int:
    return sum(method == "DELETE" for method, _ in fake.requests)


async def test_the_author_deletes_and_usage_still_counts_it(
    services: Services, fake_twitter: FakeTwitter, posted: str
) -> None:
    assert await services.tweets.delete(posted, ALICE) is True

    [tweet] = fake_twitter.tweets_by("alice_x")
    assert tweet.deleted
    assert await deleted_at(services, posted) is not None
    assert await services.usage.member_posts(ALICE) == (1, 1)  # X billed it

    with pytest.raises(errors.TweetAlreadyDeleted, match="already deleted from X"):
        await services.tweets.delete(posted, ALICE)
    assert deletes_sent(fake_twitter) == 1


async def test_anyone_else_is_refused_and_nothing_changes(
    services: Services, fake_twitter: FakeTwitter, posted: str
) -> None:
    with pytest.raises(errors.NotYourTweet):
        await services.tweets.delete(posted, BOB)
    with pytest.raises(errors.NotYourTweet):  # a tweet we never posted is nobody's here
        await services.tweets.delete("1234567890", ALICE)

    assert deletes_sent(fake_twitter) == 0
    assert await deleted_at(services, posted) is None


async def test_past_the_window_it_is_deleted_on_x_itself(
    services: Services, fake_twitter: FakeTwitter, posted: str
) -> None:
    later = TweetService(
        services.sessions,
        services.sealer,
        services.twitter,
        limits=Limits(timedelta(0), 100, 100, delete_window=timedelta(hours=24)),
        clock=lambda: utcnow() + timedelta(hours=24, seconds=1),
    )
    with pytest.raises(errors.TweetNotDeletable, match="for 24 hours after posting"):
        await later.delete(posted, ALICE)
    assert deletes_sent(fake_twitter) == 0


async def test_a_tweet_already_gone_from_x_is_recorded_deleted(
    services: Services, fake_twitter: FakeTwitter, posted: str
) -> None:
    """Deleted on x.com meanwhile: X answers 404, and that is what the member wanted."""
    fake_twitter.tweets_by("alice_x")[0].deleted = True

    assert await services.tweets.delete(posted, ALICE) is False
    assert await deleted_at(services, posted) is not None


async def test_a_revoked_token_asks_to_link_again(
    services: Services, fake_twitter: FakeTwitter, posted: str
) -> None:
    fake_twitter.revoke_user("alice_x")

    with pytest.raises(errors.LinkRevoked):
        await services.tweets.delete(posted, ALICE)

    link = await services.links.get(ALICE)
    assert link is not None
    assert not link.healthy
    assert await deleted_at(services, posted) is None


async def test_rate_limited_says_not_deleted_and_a_later_press_works(
    services: Services, fake_twitter: FakeTwitter, posted: str
) -> None:
    fake_twitter.fail_next_deletes = [429]

    with pytest.raises(errors.TwitterRateLimited, match="the tweet was not deleted"):
        await services.tweets.delete(posted, ALICE)
    assert await deleted_at(services, posted) is None

    assert await services.tweets.delete(posted, ALICE) is True


async def test_a_tweet_posted_as_an_account_no_longer_linked(
    services: Services, fake_twitter: FakeTwitter, posted: str
) -> None:
    await services.links.unlink(ALICE)
    await link_member(services, ALICE, "alice_new")

    with pytest.raises(errors.TweetNotDeletable, match="posted as @alice_x"):
        await services.tweets.delete(posted, ALICE)
    assert deletes_sent(fake_twitter) == 0
