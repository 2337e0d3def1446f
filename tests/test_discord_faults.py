"""Discord failing under the bot, through our fake Discord and real discord.py: the gateway
dropping mid-interaction and resuming, a 429 with retry_after, 5xx answers, an interaction
whose token has run out. The bot keeps running, answers what it still can, and logs each
failure once, without a traceback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from tests.fakes.discord.rest import FOLLOWUP, ORIGINAL_MESSAGE
from tests.fakes.twitter import FakeTwitter
from tests.support.discord_bot import World, custom_ids, preview_of, run_link_twitter
from tests.support.member_browser import link_member


@pytest.fixture
async def linked(world: World) -> World:
    await link_member(world.services, world.alice.id, "alice_x")
    return world


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> bool:
    return not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Poll `condition` (a log line, which no event announces) until it holds, or fail."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the condition never held"
        await asyncio.sleep(0.01)


def logged(caplog: pytest.LogCaptureFixture, words: str) -> int:
    return sum(words in record.getMessage() for record in caplog.records)


async def tweet_preview(world: World, text: str) -> dict[str, object]:
    command = await world.discord.slash_command(
        world.alice, "tweet", {"text": text}, guild=world.guild
    )
    return await preview_of(command)


async def press_post(world: World, preview: dict[str, object]) -> str:
    [post] = [i for i in custom_ids(preview) if i.startswith("tweetlink:post:")]
    click = await world.discord.click_button(world.alice, preview, post)
    return str((await click.wait_edit())["content"])


async def test_the_gateway_drops_mid_interaction_and_the_bot_resumes(
    linked: World, fake_twitter: FakeTwitter, caplog: pytest.LogCaptureFixture
) -> None:
    """The preview is answered over REST while the gateway is down; the Post pressed meanwhile
    waits for the bot, which resumes its session (no new IDENTIFY) and posts once."""
    gateway = linked.discord.gateway
    command = await linked.discord.slash_command(
        linked.alice, "tweet", {"text": "across a reconnect"}, guild=linked.guild
    )
    await gateway.drop()
    preview = await preview_of(command)
    [post] = [i for i in custom_ids(preview) if i.startswith("tweetlink:post:")]
    click = await linked.discord.click_button(linked.alice, preview, post)

    outcome = (await click.wait_edit())["content"]

    [tweet] = fake_twitter.tweets_by("alice_x")
    assert outcome == f"Posted: https://x.com/alice_x/status/{tweet.id}"
    assert len(gateway.resumed) == 1
    assert len(linked.discord.identifies) == 1
    assert no_errors_logged(caplog)


async def test_a_429_with_retry_after_is_waited_out(
    linked: World, caplog: pytest.LogCaptureFixture
) -> None:
    linked.discord.rest.fail_next("POST", FOLLOWUP, 429, retry_after=0.2)

    preview = await tweet_preview(linked, "after the rate limit")

    assert preview["embeds"]
    statuses = [
        r.status for r in linked.discord.requests if r.method == "POST" and "webhooks" in r.path
    ]
    assert statuses == [429, 200]
    assert logged(caplog, "rate limited") == 1
    assert no_errors_logged(caplog)


async def test_a_500_on_an_edit_is_retried_and_lands(
    linked: World, fake_twitter: FakeTwitter, caplog: pytest.LogCaptureFixture
) -> None:
    preview = await tweet_preview(linked, "edited after a 500")
    linked.discord.rest.fail_next("PATCH", ORIGINAL_MESSAGE, 500)

    outcome = await press_post(linked, preview)

    assert outcome.startswith("Posted: https://x.com/alice_x/status/")
    assert len(fake_twitter.tweets_by("alice_x")) == 1
    assert no_errors_logged(caplog)


async def test_a_503_on_the_dm_puts_the_link_in_the_reply(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """discord.py does not retry a 503: the member gets the link in the reply instead, and
    the failure is one WARNING line."""
    world.discord.rest.fail_next("POST", "/channels/{channel}/messages", 503)
    command = await world.discord.slash_command(world.alice, "link-twitter", guild=world.guild)

    reply = await command.wait_followup()

    assert reply["content"].startswith("I could not DM you (Discord failed to deliver it)")
    assert [b for b in custom_ids(reply) if b]  # Enter code is there
    assert logged(caplog, "Discord failed a DM") == 1
    assert no_errors_logged(caplog)


async def test_an_expired_interaction_is_logged_once_and_the_bot_goes_on(
    linked: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Answered after its token ran out: nothing to tell anyone, one WARNING, nothing done;
    the next command is answered as usual."""
    linked.discord.expire_next_interaction = True
    expired = await linked.discord.slash_command(
        linked.alice, "tweet", {"text": "too late"}, guild=linked.guild
    )
    [refused] = [await expired.wait_response()]
    assert refused.status == 404

    await until(lambda: logged(caplog, "had expired before the bot answered") > 0)
    preview = await tweet_preview(linked, "on time")
    assert preview["embeds"]
    assert logged(caplog, "had expired before the bot answered") == 1
    assert no_errors_logged(caplog)


async def test_a_dm_link_survives_a_gateway_drop(world: World) -> None:
    """/link-twitter while the gateway is down is delivered on resume and answered."""
    await world.discord.gateway.drop()
    dm = await run_link_twitter(world, world.alice)
    assert custom_ids(dm)
