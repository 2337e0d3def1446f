"""A fake Discord (gateway websocket + REST API) on loopback for end-to-end bot tests.

Unmodified discord.py connects to ``FakeDiscord``; tests act as users (slash commands, message
commands, button clicks, modal submits) and assert on what the bot sent over REST. Usage::

    async with FakeDiscord() as fake:  # starts it and points discord.py at it
        guild = fake.add_guild("Guild")
        alice = fake.add_user("alice")
        guild.add_member(alice, permissions=discord.Permissions(manage_guild=True))
        bot = MyBot(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        await bot.login(fake.token)
        task = asyncio.create_task(bot.connect())
        await bot.wait_until_ready()
        await bot.tree.sync()  # users can only invoke synced commands
        inter = await fake.slash_command(alice, "ping", {"text": "hi"}, guild=guild)
        reply = await inter.wait_response()  # RecordedCallback: .type .content .ephemeral
        assert reply.type == ResponseType.MESSAGE and reply.latency < 3
        click = await fake.click_button(alice, reply.message, "confirm")
        ...
        await bot.close()
        await task

How discord.py is pointed at it: entering ``FakeDiscord`` (``point_discord_py_here``) sets
``discord.http.Route.BASE`` to ``api_base`` and ``DiscordWebSocket.DEFAULT_GATEWAY`` to
``gateway_url``, process-wide; ``close`` (``restore_discord_py``) puts them back. A bot in another
process is given the same two URLs and ``token`` (tests/support/tweetlink_on_fake_discord.py).
Add guilds before the bot connects: each new connection gets them as GUILD_CREATE after READY;
an auto-sharded bot runs the ``shard_count`` shards ``/gateway/bot`` recommends.

What it does like Discord, so bugs show: users can only invoke synced commands; a callback later
than ``response_deadline`` (3 s from dispatch) gets 404 10062; a second callback gets 400 40060;
followups before a callback get 404 10015; the first followup after a "thinking" defer fills the
placeholder and keeps its ephemerality; DMs to users in ``refuse_dms`` get 403 50007; REST calls
without ``Bot <token>`` get 401. Unknown routes answer 404 and are recorded; errors in the fake
itself (a file upload, which it does not fake, among them) land in ``errors``.

Messages are plain dicts (Discord's message payloads). Recorded ones are snapshots; the live
state is in ``messages``, and ``click_button`` always acts on it. Waits are event-driven:
``wait_*`` give up after ``wait_timeout`` seconds with a ``TimeoutError`` listing the last
requests; ``wait_followup``/``wait_edit``/``wait_message``/``wait_dm`` return the next item not
returned yet, while ``followups``/``edits``/``dm_messages`` hold all.

The modules: ``state`` (the world: users, guilds, channels, messages, commands, interactions),
``interactions`` (what users do, as INTERACTION_CREATE payloads), ``rest`` (the REST routes),
``gateway`` (the websocket), ``fake`` (``FakeDiscord``, which serves them).
"""

from tests.fakes.discord.fake import FakeDiscord
from tests.fakes.discord.state import (
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    FakeRole,
    FakeUser,
    RecordedCallback,
    RecordedRequest,
    ResponseType,
)

__all__ = [
    "FakeAttachment",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeRole",
    "FakeUser",
    "RecordedCallback",
    "RecordedRequest",
    "ResponseType",
]
