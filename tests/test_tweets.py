"""Posting through the core service against the fake X, on every database."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from core import errors
from core.clock import utcnow
from core.models import LinkedAccount, Tweet, TweetStatus
from core.sealing import Sealer, SealingError
from core.tweets import Image, Limits, TweetService, Where
from core.twitter import TwitterClient
from tests.fakes.twitter import FakeTwitter
from tests.support.images import png
from tests.support.member_browser import link_member
from tests.support.poster import start_poster
from tests.support.postgres import until_a_transaction_waits_for_a_lock
from tweetlink.services import Services

ALICE = 500_000_000_000_000_001
BOB = 500_000_000_000_000_002
GUILD = 600_000_000_000_000_001
OTHER_GUILD = 600_000_000_000_000_002
CHANNEL = 700_000_000_000_000_001


def at(member: int, guild: int = GUILD, roles: tuple[int, ...] = ()) -> Where:
    return Where(member_id=member, guild_id=guild, channel_id=CHANNEL, role_ids=roles)


def service(
    services: Services,
    *,
    twitter: TwitterClient | None = None,
    sealer: Sealer | None = None,
    **limits: object,
) -> TweetService:
    """A tweet service on the test's database with its own limits (no cooldown by default)."""
    chosen = {"cooldown": timedelta(0), "member_daily_cap": 100, "guild_daily_cap": 1000, **limits}
    return TweetService(
        services.sessions,
        sealer or services.sealer,
        twitter or services.twitter,
        limits=Limits(**chosen),  # type: ignore[arg-type]
    )


async def ledger(services: Services) -> list[Tweet]:
    """The ledger's rows, oldest first."""
    async with services.sessions() as session:
        return list(await session.scalars(select(Tweet).order_by(Tweet.id)))


def tweet_posts(fake: FakeTwitter) -> int:
    return fake.requests.count(("POST", "/2/tweets"))


@pytest.fixture
async def alice(services: Services, web_server: str) -> int:
    """Alice, linked to @alice_x."""
    await link_member(services, ALICE, "alice_x")
    return ALICE


async def test_post_text(services: Services, fake_twitter: FakeTwitter, alice: int) -> None:
    """A previewed tweet is posted as the member's X account and recorded with its id."""
    tweets = service(services)
    draft = await tweets.prepare(at(alice), "hello from Discord")
    assert draft.weighted_length == 18
    assert draft.screen_name == "alice_x"

    posted = await tweets.post(draft.id, at(alice))

    [recorded] = fake_twitter.tweets_by("alice_x")
    assert recorded.text == "hello from Discord"
    assert posted.url == f"https://x.com/alice_x/status/{recorded.id}"
    [row] = await ledger(services)
    assert (row.status, row.tweet_id, row.guild_id, row.channel_id) == (
        TweetStatus.POSTED,
        recorded.id,
        GUILD,
        CHANNEL,
    )
    assert not row.has_url
    assert not row.has_media


async def test_post_with_image_and_url(
    services: Services, fake_twitter: FakeTwitter, alice: int
) -> None:
    """An image is uploaded and attached; the ledger notes the URL and the media."""
    tweets = service(services)
    image = png()
    draft = await tweets.prepare(at(alice), "look https://example.com", Image(image))
    await tweets.post(draft.id, at(alice))

    [recorded] = fake_twitter.tweets_by("alice_x")
    [media_id] = recorded.media_ids
    assert fake_twitter.media[media_id].data == image
    [row] = await ledger(services)
    assert row.has_url
    assert row.has_media


@pytest.mark.parametrize(
    ("text", "image", "error", "words"),
    [
        ("  ", None, errors.TweetInvalid, "needs some text"),
        ("x" * 281, None, errors.TweetInvalid, "281 characters"),
        ("hi", b"GIF90a not an image", errors.ImageInvalid, "PNG, JPEG, GIF or WEBP"),
        ("hi", b"\x89PNG\r\n\x1a\n" + b"\x00" * (5 * 1024 * 1024), errors.ImageInvalid, "5 MB"),
    ],
)
async def test_invalid_input_never_reaches_x(
    services: Services,
    fake_twitter: FakeTwitter,
    alice: int,
    text: str,
    image: bytes | None,
    error: type[Exception],
    words: str,
) -> None:
    """Bad text or images are refused with their reason before any call to X."""
    with pytest.raises(error, match=words):
        await service(services).prepare(at(alice), text, Image(image) if image else None)
    assert tweet_posts(fake_twitter) == 0
    assert ("POST", "/2/media/upload") not in fake_twitter.requests


async def test_unlinked_member_is_told_to_link(services: Services) -> None:
    """A member without a link is asked to run /link-twitter."""
    with pytest.raises(errors.NotLinked, match="/link-twitter"):
        await service(services).prepare(at(BOB), "hello")


async def test_revoked_token_marks_the_link_and_asks_to_relink(
    services: Services, fake_twitter: FakeTwitter, alice: int
) -> None:
    """X's 401 marks the link revoked; the next /tweet is refused before X."""
    tweets = service(services)
    draft = await tweets.prepare(at(alice), "hello")
    fake_twitter.revoke_user("alice_x")
    with pytest.raises(errors.LinkRevoked, match="/link-twitter"):
        await tweets.post(draft.id, at(alice))
    link = await services.links.get(alice)
    assert link is not None
    assert not link.healthy
    assert await ledger(services) == []
    with pytest.raises(errors.LinkRevoked):
        await tweets.prepare(at(alice), "again")


@pytest.mark.parametrize(
    ("breakage", "error", "words"),
    [
        ("duplicate", errors.TwitterDuplicate, "same text"),
        ("read-only", errors.TwitterNoWriteAccess, "Read and write"),
        ("credits", errors.TwitterCreditsExhausted, "credits are used up"),
        ("rate limit", errors.TwitterRateLimited, "rate limit"),
        ("503", errors.TwitterUnavailable, "Nothing was posted"),
    ],
)
async def test_x_refusals_are_explained_and_nothing_is_recorded(
    services: Services,
    fake_twitter: FakeTwitter,
    alice: int,
    breakage: str,
    error: type[Exception],
    words: str,
) -> None:
    """Each refusal from X has its own message, and the ledger keeps no posted tweet for it."""
    tweets = service(services)
    if breakage == "duplicate":
        await tweets.post((await tweets.prepare(at(alice), "same")).id, at(alice))
    draft = await tweets.prepare(at(alice), "same")
    if breakage != "duplicate":
        fake_twitter.refuse_next_tweet("alice_x", breakage)

    with pytest.raises(error, match=words) as raised:
        await tweets.post(draft.id, at(alice))

    expected_rows = 1 if breakage == "duplicate" else 0
    assert len(await ledger(services)) == expected_rows
    assert len(fake_twitter.tweets_by("alice_x")) == expected_rows
    if breakage == "rate limit":
        assert isinstance(raised.value, errors.TwitterRateLimited)
        assert raised.value.reset_at is not None


async def test_timeout_may_have_posted_and_is_never_retried(
    services: Services, fake_twitter: FakeTwitter, alice: int
) -> None:
    """A POST that times out says 'may or may not', is recorded as unknown and sent once."""
    impatient = TwitterClient(
        services.http,
        consumer_key=services.settings.twitter_consumer_key,
        consumer_secret=services.settings.twitter_consumer_secret.get_secret_value(),
        api_base=services.settings.twitter_api_base,
        timeout_seconds=0.2,
    )
    tweets = service(services, twitter=impatient)
    draft = await tweets.prepare(at(alice), "slow")
    fake_twitter.tweet_delay = 30

    with pytest.raises(errors.TwitterMaybePosted, match="may or may not have been posted"):
        await tweets.post(draft.id, at(alice))

    assert tweet_posts(fake_twitter) == 1
    [row] = await ledger(services)
    assert row.status == TweetStatus.UNKNOWN
    assert len(fake_twitter.tweets_by("alice_x")) == 1


async def test_a_posted_tweet_is_recorded_before_the_member_hears(
    services: Services, fake_twitter: FakeTwitter, alice: int, database_url: str
) -> None:
    """The moment `post` returns, another process reads the tweet as posted with X's id, and
    the usage figures count it."""
    tweets = service(services)
    posted = await tweets.post((await tweets.prepare(at(alice), "on the record")).id, at(alice))
    other_process = create_async_engine(database_url)
    try:
        async with other_process.connect() as connection:
            row = (await connection.execute(select(Tweet.status, Tweet.tweet_id))).one()
    finally:
        await other_process.dispose()
    assert tuple(row) == (TweetStatus.POSTED, posted.tweet_id)
    [day, _, _] = await services.usage.usage(guild_id=GUILD)
    assert day.posts == 1


async def test_a_post_cancelled_mid_request_is_recorded_as_unknown(
    services: Services, fake_twitter: FakeTwitter, alice: int
) -> None:
    """Cancelled while X holds the POST (a shutdown, say): X may have posted it, so it counts."""
    tweets = service(services, member_daily_cap=1)
    draft = await tweets.prepare(at(alice), "going down")
    fake_twitter.tweet_delay = 30
    posting = asyncio.ensure_future(tweets.post(draft.id, at(alice)))
    await asyncio.wait_for(fake_twitter.tweet_recorded.wait(), 10)
    posting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await posting
    [row] = await ledger(services)
    assert row.status == TweetStatus.UNKNOWN
    with pytest.raises(errors.DailyCapReached):
        await tweets.prepare(at(alice), "and again")


async def test_a_token_that_cannot_be_opened_books_nothing(
    services: Services, fake_twitter: FakeTwitter, alice: int
) -> None:
    """Sealed under a key no longer configured: the Post fails before X, and gives back its
    booking rather than leaving it pending against the caps."""
    tweets = service(services, sealer=Sealer([Sealer.generate_key()]), member_daily_cap=1)
    draft = await tweets.prepare(at(alice), "sealed elsewhere")
    with pytest.raises(SealingError):
        await tweets.post(draft.id, at(alice))
    assert await ledger(services) == []
    assert tweet_posts(fake_twitter) == 0


async def test_x_unreachable_posts_nothing(
    services: Services, fake_twitter: FakeTwitter, alice: int
) -> None:
    """With X down (connection refused) the member hears nothing was posted."""
    tweets = service(services)
    draft = await tweets.prepare(at(alice), "hello")
    await fake_twitter.close()
    with pytest.raises(errors.TwitterUnavailable, match="Nothing was posted"):
        await tweets.post(draft.id, at(alice))
    assert await ledger(services) == []


async def test_a_draft_posts_once(
    services: Services, fake_twitter: FakeTwitter, alice: int
) -> None:
    """Pressing Post 50 times at once posts once; every other press hears the preview is gone."""
    tweets = service(services)
    draft = await tweets.prepare(at(alice), "once")
    results = await asyncio.gather(
        *(tweets.post(draft.id, at(alice)) for _ in range(50)), return_exceptions=True
    )
    assert sum(isinstance(result, errors.DraftGone) for result in results) == 49
    assert len(fake_twitter.tweets_by("alice_x")) == 1
    assert len(await ledger(services)) == 1


async def test_only_the_author_can_post_a_draft(
    services: Services, fake_twitter: FakeTwitter, alice: int
) -> None:
    """Another member cannot post (or cancel) someone's draft."""
    await link_member(services, BOB, "bob_x")
    tweets = service(services)
    draft = await tweets.prepare(at(alice), "mine")
    with pytest.raises(errors.DraftGone):
        await tweets.post(draft.id, at(BOB))
    await tweets.cancel(draft.id, BOB)
    await tweets.post(draft.id, at(alice))
    assert len(fake_twitter.tweets_by("alice_x")) == 1
    assert fake_twitter.tweets_by("bob_x") == []


async def test_cancelled_draft_cannot_be_posted(services: Services, alice: int) -> None:
    """Cancel drops the draft."""
    tweets = service(services)
    draft = await tweets.prepare(at(alice), "never mind")
    await tweets.cancel(draft.id, alice)
    with pytest.raises(errors.DraftGone):
        await tweets.post(draft.id, at(alice))


async def test_fifty_concurrent_posts_against_a_cap_of_five_post_five(
    services: Services, fake_twitter: FakeTwitter, alice: int
) -> None:
    """The member cap holds under concurrency: exactly five of fifty are posted."""
    tweets = service(services, member_daily_cap=5)
    drafts = [await tweets.prepare(at(alice), f"tweet number {n}") for n in range(50)]
    results = await asyncio.gather(
        *(tweets.post(draft.id, at(alice)) for draft in drafts), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 45
    assert all(isinstance(r, errors.DailyCapReached) for r in refused), [
        r for r in refused if not isinstance(r, errors.DailyCapReached)
    ]
    assert len(fake_twitter.tweets_by("alice_x")) == 5
    assert [row.status for row in await ledger(services)] == [TweetStatus.POSTED] * 5


async def test_cooldown_between_tweets(services: Services, alice: int) -> None:
    """A second tweet inside the cooldown is refused with the time it may be retried."""
    tweets = service(services, cooldown=timedelta(minutes=5))
    await tweets.post((await tweets.prepare(at(alice), "first")).id, at(alice))
    with pytest.raises(errors.TweetCooldown) as raised:
        await tweets.prepare(at(alice), "second")
    [row] = await ledger(services)
    assert raised.value.retry_at == row.created_at + timedelta(minutes=5)


async def test_server_cap_counts_every_member_of_that_server_only(
    services: Services, fake_twitter: FakeTwitter, alice: int
) -> None:
    """The server cap stops the second member in that server, not in another server."""
    await link_member(services, BOB, "bob_x")
    tweets = service(services, guild_daily_cap=1)
    await tweets.post((await tweets.prepare(at(alice), "a")).id, at(alice))
    with pytest.raises(errors.DailyCapReached, match="This server has reached the limit of 1"):
        await tweets.prepare(at(BOB), "b")
    await tweets.post((await tweets.prepare(at(BOB, OTHER_GUILD), "b")).id, at(BOB))
    assert len(fake_twitter.tweets) == 2


@pytest.mark.parametrize(
    ("member_daily_cap", "cooldown_seconds", "posted"),
    [pytest.param(5, 0, 5, id="cap"), pytest.param(100, 600, 1, id="cooldown")],
)
async def test_caps_and_cooldown_hold_across_processes(
    services: Services,
    fake_twitter: FakeTwitter,
    alice: int,
    database_url: str,
    member_daily_cap: int,
    cooldown_seconds: int,
    posted: int,
) -> None:
    """Two bot processes, each with its own engine and each in its own server, press Post 20
    times at once for one member: only the lock on the member's row keeps the count, so a cap
    of 5 posts 5 and a cooldown posts 1."""
    posters = [
        await start_poster(
            database_url=database_url,
            twitter_api_base=fake_twitter.base_url,
            encryption_keys=services.settings.encryption_keys(),
            member=alice,
            guild=guild,
            drafts=10,
            member_daily_cap=member_daily_cap,
            cooldown_seconds=cooldown_seconds,
        )
        for guild in (GUILD, OTHER_GUILD)
    ]
    outcomes = await asyncio.gather(*(poster.go() for poster in posters))
    assert [outcome["other"] for outcome in outcomes] == [[], []]
    assert sum(int(outcome["posted"]) for outcome in outcomes) == posted  # type: ignore[call-overload]
    assert len(fake_twitter.tweets_by("alice_x")) == posted
    assert [row.status for row in await ledger(services)] == [TweetStatus.POSTED] * posted


async def test_a_post_waits_for_another_process_booking_the_member(
    services: Services, fake_twitter: FakeTwitter, alice: int, database_url: str
) -> None:
    """Another process holds the member while booking their last tweet of the day: our Post
    waits for its commit, then counts that tweet and is refused."""
    if not database_url.startswith("postgresql"):
        pytest.skip("only PostgreSQL shows a waiting transaction (pg_stat_activity)")
    tweets = service(services, member_daily_cap=1)
    draft = await tweets.prepare(at(alice), "after the other process")
    other_process = create_async_engine(database_url)
    try:
        async with other_process.begin() as holder:
            await holder.execute(
                select(LinkedAccount)
                .where(LinkedAccount.discord_user_id == alice)
                .with_for_update()
            )
            await holder.execute(insert(Tweet).values(**posted_row(alice)))
            posting = asyncio.ensure_future(tweets.post(draft.id, at(alice)))
            await until_a_transaction_waits_for_a_lock(holder)
        with pytest.raises(errors.DailyCapReached):
            await posting
    finally:
        await other_process.dispose()
    assert fake_twitter.tweets_by("alice_x") == []


def posted_row(member: int) -> dict[str, object]:
    now = utcnow()
    return {
        "discord_user_id": member,
        "guild_id": OTHER_GUILD,
        "channel_id": CHANNEL,
        "twitter_user_id": "1",
        "screen_name": "alice_x",
        "status": TweetStatus.POSTED,
        "tweet_id": "1",
        "has_url": False,
        "has_media": False,
        "created_at": now,
        "posted_at": now,
    }


async def test_a_stopping_service_takes_no_new_post(
    services: Services, fake_twitter: FakeTwitter, alice: int
) -> None:
    """Once shutdown began, Post explains the restart and nothing reaches X."""
    tweets = service(services)
    draft = await tweets.prepare(at(alice), "too late")
    await tweets.finish_posts()
    with pytest.raises(errors.ShuttingDown, match="restarting"):
        await tweets.post(draft.id, at(alice))
    assert tweet_posts(fake_twitter) == 0


async def test_a_post_settled_as_abandoned_still_records_what_x_answered(
    services: Services, fake_twitter: FakeTwitter, alice: int
) -> None:
    """The sweep takes a slow post for one whose process died and marks it unknown; when X's
    answer comes after all, the post is recorded posted with its id."""
    tweets = service(services)
    draft = await tweets.prepare(at(alice), "slow but alive")
    fake_twitter.tweet_delay = 0.5
    posting = asyncio.create_task(tweets.post(draft.id, at(alice)))
    await asyncio.wait_for(fake_twitter.tweet_recorded.wait(), 10)

    assert await tweets.settle_abandoned_posts(timedelta(0)) == 1
    assert [row.status for row in await ledger(services)] == [TweetStatus.UNKNOWN]
    posted = await posting

    [row] = await ledger(services)
    assert (row.status, row.tweet_id) == (TweetStatus.POSTED, posted.tweet_id)
