"""/tweet and Post to X end to end: the real bot on the fake Discord, posting to the fake X."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from core.tweets import Limits, TweetService
from tests.fakes.discord import FakeDiscord
from tests.fakes.twitter import FakeTwitter
from tests.support.discord_bot import (
    World,
    answered,
    custom_ids,
    press,
    preview_of,
    running_bot,
)
from tests.support.images import png
from tests.support.member_browser import MemberBrowser, link_member
from tweetlink.services import Services

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def linked(world: World) -> World:
    """Alice is linked to @alice_x; Bob to @bob_x."""
    await link_member(world.services, world.alice.id, "alice_x")
    await link_member(world.services, world.bob.id, "bob_x")
    return world


async def test_tweet_text_previews_then_posts(linked: World, fake_twitter: FakeTwitter) -> None:
    """/tweet shows the text and its length with Post and Cancel; Post answers the tweet's URL."""
    command = await linked.discord.slash_command(
        linked.alice, "tweet", {"text": "hello from Discord 日本"}, guild=linked.guild
    )
    preview = await preview_of(command)
    [embed] = preview["embeds"]
    assert embed["title"] == "Post this as @alice_x?"
    assert embed["description"] == "hello from Discord 日本"
    assert embed["fields"][0]["value"] == "23/280"
    assert fake_twitter.tweets == []  # nothing happens before Post

    outcome = await press(linked, linked.alice, preview, "post")

    [tweet] = fake_twitter.tweets_by("alice_x")
    assert tweet.text == "hello from Discord 日本"
    assert outcome == f"Posted: https://x.com/alice_x/status/{tweet.id}"


async def test_tweet_with_an_image(linked: World, fake_twitter: FakeTwitter) -> None:
    """The attachment is downloaded from Discord, uploaded to X and attached to the tweet."""
    image = png()
    attachment = linked.discord.add_attachment("cat.png", image, "image/png")
    command = await linked.discord.slash_command(
        linked.alice, "tweet", {"text": "a cat", "image": attachment}, guild=linked.guild
    )
    preview = await preview_of(command)
    assert preview["embeds"][0]["image"]["url"].endswith("/cat.png")
    await press(linked, linked.alice, preview, "post")

    [tweet] = fake_twitter.tweets_by("alice_x")
    assert [fake_twitter.media[media_id].data for media_id in tweet.media_ids] == [image]


async def test_post_to_x_on_ones_own_message(linked: World, fake_twitter: FakeTwitter) -> None:
    """Apps → Post to X previews the message's text and first image, and posts them."""
    image = png(3, 3)
    attachment = linked.discord.add_attachment("dog.png", image, "image/png")
    message = linked.discord.add_user_message(
        linked.alice, linked.guild.channel, "my dog", attachments=[attachment]
    )
    command = await linked.discord.context_menu(
        linked.alice, "Post to X", message, guild=linked.guild
    )
    preview = await preview_of(command)
    await press(linked, linked.alice, preview, "post")

    [tweet] = fake_twitter.tweets_by("alice_x")
    assert tweet.text == "my dog"
    assert fake_twitter.media[tweet.media_ids[0]].data == image


async def test_post_to_x_refuses_someone_elses_message(
    linked: World, fake_twitter: FakeTwitter
) -> None:
    """Members may post only their own messages."""
    message = linked.discord.add_user_message(linked.bob, linked.guild.channel, "bob's words")
    command = await linked.discord.context_menu(
        linked.alice, "Post to X", message, guild=linked.guild
    )
    answer = await command.wait_response()
    await answered(command)
    assert answer.ephemeral
    assert answer.content == "You can only post your own messages to X."
    assert fake_twitter.tweets == []


async def test_only_the_author_can_press_post(linked: World, fake_twitter: FakeTwitter) -> None:
    """Bob pressing Alice's Post button is refused; Alice's press still works."""
    command = await linked.discord.slash_command(
        linked.alice, "tweet", {"text": "mine"}, guild=linked.guild
    )
    preview = await preview_of(command)
    refused = await press(linked, linked.bob, preview, "post")
    assert refused == "Only the member who wrote this tweet can post or cancel it."
    assert fake_twitter.tweets == []
    await press(linked, linked.alice, preview, "post")
    assert len(fake_twitter.tweets_by("alice_x")) == 1


async def test_cancel_posts_nothing(linked: World, fake_twitter: FakeTwitter) -> None:
    """Cancel replaces the preview and posts nothing."""
    command = await linked.discord.slash_command(
        linked.alice, "tweet", {"text": "never mind"}, guild=linked.guild
    )
    preview = await preview_of(command)
    assert await press(linked, linked.alice, preview, "cancel") == "Cancelled; nothing was posted."
    assert fake_twitter.tweets == []


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"text": "x" * 281}, "281 characters"),
        ({"text": "a file", "image": ("notes.txt", b"plain text", "text/plain")}, "PNG, JPEG"),
        ({"text": "fake png", "image": ("x.png", b"not really", "image/png")}, "PNG, JPEG"),
    ],
)
async def test_invalid_tweets_are_explained(
    linked: World, fake_twitter: FakeTwitter, options: dict[str, Any], words: str
) -> None:
    """Too long, not an image, or an image in disguise: the member reads why, X hears nothing."""
    if "image" in options:
        options["image"] = linked.discord.add_attachment(*options["image"])
    command = await linked.discord.slash_command(linked.alice, "tweet", options, guild=linked.guild)
    answer = await preview_of(command)
    assert words in answer["content"]
    assert answer["components"] == []
    assert fake_twitter.requests.count(("POST", "/2/tweets")) == 0


async def test_unlinked_member_is_told_to_link(world: World) -> None:
    """Without a link, /tweet says to run /link-twitter."""
    command = await world.discord.slash_command(
        world.alice, "tweet", {"text": "hi"}, guild=world.guild
    )
    answer = await preview_of(command)
    assert "Run /link-twitter" in answer["content"]


async def test_tweet_in_dms_is_refused(linked: World) -> None:
    """/tweet works in servers only, even if Discord delivers it in a DM."""
    command = await linked.discord.slash_command(linked.alice, "tweet", {"text": "hi"})
    answer = await command.wait_response()
    await answered(command)
    assert answer.ephemeral
    assert answer.content == "This command works in a server, not in DMs."


@pytest.mark.parametrize(
    ("breakage", "words"),
    [
        ("revoked", "Run /link-twitter to link again"),
        ("duplicate", "already posted the same text"),
        ("read-only", "Read and write"),
        ("credits", "credits are used up"),
        ("rate limit", "It resets <t:"),
        ("503", "X is having trouble (it answered 503). Nothing was posted"),
    ],
)
async def test_x_answers_become_words(
    linked: World, fake_twitter: FakeTwitter, breakage: str, words: str
) -> None:
    """Each of X's refusals replaces the preview with a plain explanation."""
    if breakage == "duplicate":
        first = await linked.discord.slash_command(
            linked.alice, "tweet", {"text": "same words"}, guild=linked.guild
        )
        await press(linked, linked.alice, await preview_of(first), "post")
    command = await linked.discord.slash_command(
        linked.alice, "tweet", {"text": "same words"}, guild=linked.guild
    )
    preview = await preview_of(command)
    if breakage != "duplicate":
        fake_twitter.refuse_next_tweet("alice_x", breakage)

    outcome = await press(linked, linked.alice, preview, "post")

    assert words in outcome
    assert len(fake_twitter.tweets_by("alice_x")) == (1 if breakage == "duplicate" else 0)


async def test_delete_from_x_asks_then_deletes_for_the_author_only(
    linked: World, fake_twitter: FakeTwitter
) -> None:
    """The posted answer carries Delete from X: Bob's press is refused and changes nothing;
    Alice confirms, the tweet goes at X and the answer says so; pressing again says already."""
    command = await linked.discord.slash_command(
        linked.alice, "tweet", {"text": "second thoughts"}, guild=linked.guild
    )
    answer = await preview_of(command)
    await press(linked, linked.alice, answer, "post")
    [tweet] = fake_twitter.tweets_by("alice_x")
    url = f"https://x.com/alice_x/status/{tweet.id}"

    refused = await press(linked, linked.bob, answer, "delete")
    assert refused == "Only the member who posted this tweet can delete it."
    asked = await press(linked, linked.alice, answer, "delete")
    assert asked == f"Delete {url} from X? This cannot be undone."
    assert not tweet.deleted
    kept = await press(linked, linked.alice, answer, "delete-no")
    assert kept == f"Posted: {url}"
    await press(linked, linked.alice, answer, "delete")
    [confirm] = [i for i in custom_ids(linked.discord.messages[int(answer["id"])]) if "yes" in i]

    # Pressed twice at once, as a double click does: one deletes, the other hears it is done.
    clicks = [await linked.discord.click_button(linked.alice, answer, confirm) for _ in "12"]
    said = sorted([(await click.wait_edit())["content"] for click in clicks])

    assert said == [f"Deleted from X: {url}", f"It was already gone from X: {url}"] or said == [
        f"Deleted from X: {url}",
        "This tweet is already deleted from X.",
    ]
    assert tweet.deleted
    assert custom_ids(linked.discord.messages[int(answer["id"])]) == []


async def test_a_broken_answer_after_x_posted_says_may_or_may_not(
    linked: World, fake_twitter: FakeTwitter
) -> None:
    """X posted, then its answer broke off: the member is told to check before trying again."""
    command = await linked.discord.slash_command(
        linked.alice, "tweet", {"text": "posted, answer lost"}, guild=linked.guild
    )
    preview = await preview_of(command)
    fake_twitter.faults.break_next("POST /2/tweets", "reset")

    outcome = await press(linked, linked.alice, preview, "post")

    assert "X's answer broke off, so the tweet may or may not have been posted" in outcome
    assert "Check your profile before trying again" in outcome
    assert len(fake_twitter.tweets_by("alice_x")) == 1


async def test_fifty_concurrent_posts_from_one_member_post_exactly_the_cap(
    services: Services, web_server: str, fake_discord: FakeDiscord, fake_twitter: FakeTwitter
) -> None:
    """Fifty previews pressed at once by one member, against a cap of five: five tweets."""
    capped = replace(
        services,
        tweets=TweetService(
            services.sessions,
            services.sealer,
            services.twitter,
            limits=Limits(cooldown=timedelta(0), member_daily_cap=5, guild_daily_cap=1000),
        ),
    )
    guild = fake_discord.add_guild("Community")
    member = fake_discord.add_user("carol")
    guild.add_member(member)
    await link_member(services, member.id, "carol_x")
    async with running_bot(capped, fake_discord) as bot, aiohttp.ClientSession() as http:
        world = World(fake_discord, guild, member, member, bot, MemberBrowser(http), capped)
        previews = []
        for n in range(50):
            command = await fake_discord.slash_command(
                member, "tweet", {"text": f"tweet {n}"}, guild=guild
            )
            previews.append(await preview_of(command))
        outcomes = await asyncio.gather(
            *(press(world, member, preview, "post") for preview in previews)
        )
    assert sum(outcome.startswith("Posted: ") for outcome in outcomes) == 5
    assert sum("limit of 5 tweets" in outcome for outcome in outcomes) == 45
    assert len(fake_twitter.tweets_by("carol_x")) == 5
