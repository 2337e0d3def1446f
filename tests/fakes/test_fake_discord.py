"""The fake Discord, proven with a real discord.py ``commands.Bot`` talking to it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import discord
import pytest
from discord import ui
from discord.ext import commands

from tests.fakes.discord import FakeDiscord, FakeGuild, FakeUser, ResponseType


def make_bot() -> commands.Bot:
    """A bot with the default (non-privileged) intents and a short wait for guilds."""
    return commands.Bot(
        command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05
    )


@contextlib.asynccontextmanager
async def running(bot: discord.Client, fake: FakeDiscord) -> AsyncIterator[None]:
    """Log ``bot`` in to the fake, connect it, wait until ready; close it afterwards."""
    await bot.login(fake.token)
    task = asyncio.create_task(bot.connect())
    try:
        async with asyncio.timeout(5):
            await bot.wait_until_ready()
        yield
    finally:
        await bot.close()
        await task


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        yield fake
        assert fake.errors == []


@pytest.fixture
def guild(fake: FakeDiscord) -> FakeGuild:
    return fake.add_guild("Test guild")


@pytest.fixture
def alice(fake: FakeDiscord, guild: FakeGuild) -> FakeUser:
    user = fake.add_user("alice")
    guild.add_member(user, permissions=discord.Permissions(manage_guild=True))
    return user


async def test_bot_logs_in_and_sees_its_guild_and_owner(
    fake: FakeDiscord, guild: FakeGuild
) -> None:
    bot = make_bot()
    async with running(bot, fake):
        assert bot.user is not None
        assert bot.user.id == fake.bot_user.id
        cached = bot.get_guild(guild.id)
        assert cached is not None
        assert cached.name == "Test guild"
        assert cached.me.guild_permissions.administrator
        assert [c.name for c in cached.text_channels] == ["general"]
        assert (await bot.application_info()).owner.id == fake.owner.id
    assert fake.identifies[0]["intents"] == discord.Intents.default().value
    paths = [r.path for r in fake.requests]
    assert paths[:2] == ["/users/@me", "/oauth2/applications/@me"]
    assert fake.api_base == discord.http.Route.BASE


async def test_command_sync_is_recorded_and_keeps_ids(
    fake: FakeDiscord, guild: FakeGuild, alice: FakeUser
) -> None:
    bot = make_bot()

    @bot.tree.command(description="Ping")
    async def ping(interaction: discord.Interaction) -> None:
        command_id = dict(interaction.data or {}).get("id")
        await interaction.response.send_message(f"pong from {interaction.guild_id} {command_id}")

    async with running(bot, fake):
        synced = await bot.tree.sync()
        resynced = await bot.tree.sync()
        bot.tree.copy_global_to(guild=discord.Object(guild.id))
        await bot.tree.sync(guild=discord.Object(guild.id))
        interaction = await fake.slash_command(alice, "ping", guild=guild)
        reply = await interaction.wait_response()
    (command,) = fake.synced_commands()
    assert command["name"] == "ping"
    assert command["description"] == "Ping"
    assert synced[0].id == resynced[0].id == int(command["id"])
    (guild_command,) = fake.synced_commands(guild)
    assert guild_command["id"] != command["id"]
    assert reply.content == f"pong from {guild.id} {guild_command['id']}"
    put = await fake.wait_for(lambda r: r.method == "PUT" and r.path.endswith("/commands"))
    assert put.json[0]["name"] == "ping"


async def test_deferred_ephemeral_answer_then_followup(
    fake: FakeDiscord, guild: FakeGuild, alice: FakeUser
) -> None:
    bob = fake.add_user("bob")
    guild.add_member(bob)
    bot = make_bot()

    @bot.tree.command()
    async def inspect(
        interaction: discord.Interaction, who: discord.Member, upload: discord.Attachment
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = (await upload.read()).decode()
        permitted = interaction.permissions.manage_guild
        await interaction.followup.send(f"{who.name}:{text}:{permitted}")

    upload = fake.add_attachment("note.txt", b"hello", "text/plain")
    async with running(bot, fake):
        await bot.tree.sync()
        interaction = await fake.slash_command(
            alice, "inspect", {"who": bob, "upload": upload}, guild=guild
        )
        response = await interaction.wait_response()
        followup = await interaction.wait_followup()
    assert response.type == ResponseType.DEFERRED_MESSAGE
    assert response.ephemeral
    assert response.latency < 3
    assert followup["content"] == "bob:hello:True"
    assert followup["flags"] & discord.MessageFlags.ephemeral.flag
    assert response.message is not None
    assert followup["id"] == response.message["id"]
    request = await fake.wait_for(lambda r: r.path.startswith("/webhooks/"))
    assert request.json["content"] == "bob:hello:True"


class Confirm(ui.View):
    @ui.button(label="Confirm", custom_id="confirm")
    async def confirm(self, interaction: discord.Interaction, button: ui.Button[Confirm]) -> None:
        await interaction.response.edit_message(content="confirmed", view=None)


async def test_button_click_in_dm(fake: FakeDiscord) -> None:
    carol = fake.add_user("carol")
    bot = make_bot()

    @bot.tree.command()
    async def ask(interaction: discord.Interaction) -> None:
        assert isinstance(interaction.channel, discord.DMChannel)
        await interaction.response.send_message("Sure?", view=Confirm())

    async with running(bot, fake):
        await bot.tree.sync()
        question = await (await fake.slash_command(carol, "ask")).wait_response()
        assert question.message is not None
        assert question.content == "Sure?"
        with pytest.raises(ValueError, match="no component 'nope'"):
            await fake.click_button(carol, question.message, "nope")
        click = await fake.click_button(carol, question.message, "confirm")
        answer = await click.wait_response()
    assert answer.type == ResponseType.UPDATE_MESSAGE
    message = answer.message
    assert message is not None
    assert message["id"] == question.message["id"]
    assert message["content"] == "confirmed"
    assert message["components"] == []


class Slow(ui.View):
    @ui.button(label="Go", custom_id="go")
    async def go(self, interaction: discord.Interaction, button: ui.Button[Slow]) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(content="done", view=None)
        await interaction.followup.send("noted", ephemeral=True)


async def test_button_with_deferred_update_then_edit(
    fake: FakeDiscord, guild: FakeGuild, alice: FakeUser
) -> None:
    bot = make_bot()

    @bot.tree.command()
    async def start(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Start?", view=Slow())

    async with running(bot, fake):
        await bot.tree.sync()
        shown = await (await fake.slash_command(alice, "start", guild=guild)).wait_response()
        assert shown.message is not None
        click = await fake.click_button(alice, shown.message, "go")
        deferred = await click.wait_response()
        edited = await click.wait_edit()
        note = await click.wait_followup()
    assert deferred.type == ResponseType.DEFERRED_UPDATE
    assert edited["id"] == shown.message["id"]
    assert edited["content"] == "done"
    assert edited["components"] == []
    assert note["content"] == "noted"
    assert note["flags"] & discord.MessageFlags.ephemeral.flag


class Feedback(ui.Modal, title="Feedback"):
    text: ui.TextInput[Feedback] = ui.TextInput(label="Your feedback", custom_id="text")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"got {self.text.value}")


async def test_modal_round_trip(fake: FakeDiscord, guild: FakeGuild, alice: FakeUser) -> None:
    bot = make_bot()

    @bot.tree.command()
    async def feedback(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Feedback())

    async with running(bot, fake):
        await bot.tree.sync()
        command = await fake.slash_command(alice, "feedback", guild=guild)
        shown = await command.wait_response()
        with pytest.raises(ValueError, match="required"):
            await fake.submit_modal(command, {})
        submitted = await fake.submit_modal(command, {"text": "great bot"})
        reply = await submitted.wait_response()
    assert shown.type == ResponseType.MODAL
    assert shown.data["title"] == "Feedback"
    assert reply.type == ResponseType.MESSAGE
    assert reply.content == "got great bot"


async def test_dms_and_refused_dms(fake: FakeDiscord) -> None:
    dave, erin = fake.add_user("dave"), fake.add_user("erin")
    fake.refuse_dms(erin)
    bot = make_bot()
    async with running(bot, fake):
        channel = await bot.create_dm(discord.Object(dave.id))
        sent = await channel.send("hello")
        dm = await fake.wait_dm(dave)
        refused = await bot.create_dm(discord.Object(erin.id))
        with pytest.raises(discord.Forbidden) as error:
            await refused.send("hello")
    assert dm["content"] == "hello"
    assert sent.id == int(dm["id"])
    assert fake.dm_messages(dave) == [dm]
    assert error.value.code == 50007
    assert fake.dm_messages(erin) == []


async def test_message_context_menu(fake: FakeDiscord, guild: FakeGuild, alice: FakeUser) -> None:
    bot = make_bot()

    @bot.tree.context_menu(name="Quote")
    async def quote(interaction: discord.Interaction, message: discord.Message) -> None:
        await interaction.response.send_message(f"quoted: {message.content}")

    target = fake.add_user_message(alice, guild.channel, "tweet this")
    async with running(bot, fake):
        await bot.tree.sync()
        reply = await (await fake.context_menu(alice, "Quote", target, guild=guild)).wait_response()
    assert reply.content == "quoted: tweet this"


async def test_answer_after_the_deadline_is_refused(fake: FakeDiscord) -> None:
    frank = fake.add_user("frank")
    release, failed = asyncio.Event(), asyncio.Event()
    errors: list[discord.NotFound] = []
    bot = make_bot()

    @bot.tree.command()
    async def slow(interaction: discord.Interaction) -> None:
        await release.wait()
        try:
            await interaction.response.send_message("late")
        except discord.NotFound as error:
            errors.append(error)
            failed.set()

    async with running(bot, fake):
        await bot.tree.sync()
        fake.response_deadline = 0.05  # Discord's 3 s, shortened so the test need not wait it out
        interaction = await fake.slash_command(frank, "slow")
        await asyncio.sleep(0.1)
        release.set()
        response = await interaction.wait_response()
        async with asyncio.timeout(5):
            await failed.wait()
    assert response.status == 404
    assert response.latency > fake.response_deadline
    assert errors[0].code == 10062


async def test_second_bot_connects_after_the_first_closed(fake: FakeDiscord) -> None:
    gina = fake.add_user("gina")
    first = make_bot()

    @first.tree.command()
    async def hello(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("hi")

    async with running(first, fake):
        await first.tree.sync()  # so the second bot, like a restarted one, need not sync
    second = make_bot()

    @second.tree.command(name="hello")
    async def hello_again(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("hi again")

    async with running(second, fake):
        reply = await (await fake.slash_command(gina, "hello")).wait_response()
    assert len(fake.identifies) == 2
    assert reply.content == "hi again"
    assert discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY.port == fake.port


async def test_restores_discord_py_on_close() -> None:
    before = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    async with FakeDiscord() as fake:
        assert fake.api_base == discord.http.Route.BASE
    assert before == (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)


async def test_auto_sharded_bot_asks_for_the_gateway(
    fake: FakeDiscord, guild: FakeGuild, alice: FakeUser
) -> None:
    bot = commands.AutoShardedBot(
        command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05
    )

    @bot.tree.command()
    async def shard(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            f"shard {interaction.guild and interaction.guild.shard_id}"
        )

    async with running(bot, fake):
        await bot.tree.sync()
        reply = await (await fake.slash_command(alice, "shard", guild=guild)).wait_response()
    assert reply.content == "shard 0"
    assert fake.identifies[0]["shard"] == [0, 1]
    assert any(r.path == "/gateway/bot" for r in fake.requests)


async def test_waits_time_out_with_the_last_requests(fake: FakeDiscord) -> None:
    fake.wait_timeout = 0.05
    bot = make_bot()
    async with running(bot, fake):
        with pytest.raises(TimeoutError, match=r"(?s)no message in channel .*GET /users/@me"):
            await fake.wait_dm(fake.add_user("nobody"))
        with pytest.raises(discord.NotFound):
            await bot.http.request(discord.http.Route("GET", "/no/such/route"))
    assert fake.requests[-1].status == 404
