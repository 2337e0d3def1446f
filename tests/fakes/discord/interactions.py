"""What users do, as the INTERACTION_CREATE payloads Discord sends: commands, clicks, modals."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import discord

from tests.fakes.discord.state import (
    ALL_PERMISSIONS,
    CommandType,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeRole,
    FakeUser,
    InteractionType,
    Json,
    ResponseType,
    World,
)

# Component types.
ACTION_ROW, BUTTON, TEXT_INPUT = 1, 2, 4
# Application command option types.
SUB_COMMAND, USER_OPTION, CHANNEL_OPTION, ROLE_OPTION, ATTACHMENT_OPTION = 1, 6, 7, 8, 11
VALUE_OPTIONS = {str: 3, int: 4, bool: 5}  # by the type of the value a test passes


def slash_command(
    world: World, name: str, options: Mapping[str, Any], guild: FakeGuild | None
) -> Json:
    """The data of ``/name`` (``"name sub"`` for a subcommand) with these option values."""
    command, _, sub = name.partition(" ")
    data = _command(world, command, CommandType.CHAT_INPUT, guild)
    resolved: dict[str, Json] = {}
    built = [_option(world, k, v, guild, resolved) for k, v in options.items()]
    if sub:
        built = [{"name": sub, "type": SUB_COMMAND, "options": built}]
    return {**data, "options": built, "resolved": resolved}


def message_command(world: World, name: str, message: Json, guild: FakeGuild | None) -> Json:
    """The data of message command ``name`` run on ``message``."""
    data = _command(world, name, CommandType.MESSAGE, guild)
    return {**data, "target_id": message["id"], "resolved": {"messages": {message["id"]: message}}}


def button_click(message: Json, custom_id: str) -> Json:
    """The data of a click on button ``custom_id``; refused if ``message`` has no such button."""
    found = {c.get("custom_id"): c for c in _components(message.get("components") or [])}
    button = found.get(custom_id)
    if button is None or button["type"] != BUTTON:
        known = sorted(k for k in found if k)
        raise ValueError(f"no component {custom_id!r} that is a button on the message: {known}")
    if button.get("disabled"):
        raise ValueError(f"button {custom_id!r} is disabled")
    return {"custom_id": custom_id, "component_type": BUTTON}


def modal_submit(origin: FakeInteraction, values: Mapping[str, str]) -> Json:
    """The data of the modal the bot answered ``origin`` with, filled in (values by custom_id)."""
    modal = next((r for r in origin.responses if r.type == ResponseType.MODAL), None)
    if modal is None:
        raise ValueError(f"interaction {origin.id} was not answered with a modal")
    used: set[str] = set()
    answers = [_modal_answer(c, values, used) for c in modal.components]
    if unknown := set(values) - used:
        raise ValueError(f"the modal has no inputs {sorted(unknown)}, only {sorted(used)}")
    return {"custom_id": modal.data["custom_id"], "components": answers}


def new_interaction(
    world: World,
    kind: InteractionType,
    data: Json,
    where: tuple[FakeUser, FakeGuild | None, FakeChannel | None],
    message: Json | None = None,
) -> tuple[FakeInteraction, Json]:
    """Register an interaction by ``where``'s user; it and the payload to dispatch."""
    user, guild, channel = where
    channel = channel or (guild.channel if guild else world.dm_channel(user))
    interaction = FakeInteraction(world, kind, (user, guild, channel), message)
    payload: Json = {
        "id": str(interaction.id),
        "application_id": str(world.application_id),
        "type": kind,
        "data": data,
        "token": interaction.token,
        "version": 1,
        "locale": "en-US",
        "attachment_size_limit": 10 * 1024 * 1024,
        "channel": channel.payload(),
        "channel_id": str(channel.id),
    }
    if guild is not None:
        if user.id not in guild.members:
            raise LookupError(f"{user.name} is not a member of {guild.name}: add_member")
        payload.update(
            guild_id=str(guild.id),
            guild={"id": str(guild.id), "locale": "en-US", "features": []},
            guild_locale="en-US",
            member=guild.members[user.id].payload(),
            app_permissions=str(guild.bot_role.permissions),
            context=0,
        )
    else:
        dm_perms = discord.Permissions.text().value
        payload.update(user=user.payload(), app_permissions=str(dm_perms), context=1)
    if message is not None:
        payload["message"] = message
    world.interactions[interaction.id] = interaction
    return interaction, payload


def _command(world: World, name: str, kind: CommandType, guild: FakeGuild | None) -> Json:
    """The invoked command: only synced ones can be, like on Discord (the guild's first)."""
    for scope in [guild.id, None] if guild else [None]:
        for command in world.commands.get(scope, []):
            if (command["name"], command["type"]) == (name, kind):
                data = {"id": command["id"], "name": name, "type": kind}
                return data if scope is None else {**data, "guild_id": str(scope)}
    raise LookupError(f"command {name!r} of type {kind} was never synced")


def _option(
    world: World, name: str, value: Any, guild: FakeGuild | None, resolved: dict[str, Json]
) -> Json:
    """One option; users, channels, roles and attachments also go in ``resolved``, by id."""
    if isinstance(value, FakeUser):
        kind, found = USER_OPTION, {"users": value.payload()}
        if guild and value.id in guild.members:
            found["members"] = guild.members[value.id].payload(with_user=False)
    elif isinstance(value, FakeChannel):
        channel = {**value.payload(), "permissions": str(ALL_PERMISSIONS)}
        kind, found = CHANNEL_OPTION, {"channels": channel}
    elif isinstance(value, FakeRole):
        kind, found = ROLE_OPTION, {"roles": value.payload()}
    elif isinstance(value, FakeAttachment):
        kind, found = ATTACHMENT_OPTION, {"attachments": value.payload(world.base_url)}
    else:
        if type(value) not in VALUE_OPTIONS:
            raise TypeError(f"unsupported option value {value!r}")
        return {"name": name, "type": VALUE_OPTIONS[type(value)], "value": value}
    for key, item in found.items():
        resolved.setdefault(key, {})[str(value.id)] = item
    return {"name": name, "type": kind, "value": str(value.id)}


def _components(components: Iterable[Json]) -> Iterator[Json]:
    """Every component, rows and what they hold."""
    for component in components:
        yield component
        yield from _components(component.get("components") or [])


def _modal_answer(component: Json, values: Mapping[str, str], used: set[str]) -> Json:
    """The submitted form of one modal component (a row, or a text input in it)."""
    if component["type"] == ACTION_ROW:
        return {
            "type": ACTION_ROW,
            "components": [_modal_answer(c, values, used) for c in component["components"]],
        }
    custom_id = component.get("custom_id", "")
    if component["type"] != TEXT_INPUT:
        raise ValueError(f"the fake fills in text inputs only, not {custom_id!r}")
    used.add(custom_id)
    value = str(values.get(custom_id, component.get("value") or ""))
    if component.get("required", True) and not value:
        raise ValueError(f"text input {custom_id!r} is required: give it a value")
    if not component.get("min_length", 0) <= len(value) <= component.get("max_length", 4000):
        raise ValueError(f"value for {custom_id!r} breaks its min/max length")
    return {"type": TEXT_INPUT, "custom_id": custom_id, "value": value}
