"""The fake Discord's REST API: the routes discord.py calls, each request recorded."""

from __future__ import annotations

import copy
import json
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.discord.oauth import OAuth2
from tests.fakes.discord.state import (
    EPHEMERAL,
    LOADING,
    FakeInteraction,
    InteractionType,
    Json,
    MessageType,
    RecordedCallback,
    RecordedRequest,
    ResponseType,
    World,
)

API = "/api/v10"
ORIGINAL_MESSAGE = "/webhooks/{app}/{token}/messages/@original"  # what edit_original_response edits
FOLLOWUP = "/webhooks/{app}/{token}"  # followup messages
CALLBACK = "/interactions/{id}/{token}/callback"  # the first answer
Handler = Callable[[web.Request, RecordedRequest], Awaitable[web.StreamResponse]]
_log = logging.getLogger(__name__)


class _JsonResponse(web.Response):
    def __init__(self, data: Any, status: int = 200) -> None:
        # Not web.json_response: its "; charset=utf-8" makes discord.py read the body as text.
        body = json.dumps(data).encode()
        super().__init__(body=body, status=status, content_type="application/json")


def _error(status: int, code: int, message: str) -> _JsonResponse:
    return _JsonResponse({"code": code, "message": message}, status)


async def _read_json(request: web.Request) -> Any:
    """The JSON body, or None without a body."""
    raw = await request.read()
    if not raw or request.content_type == "application/x-www-form-urlencoded":
        return None  # no body, or OAuth2's form (the token endpoint reads it)
    if request.content_type != "application/json":
        # discord.py sends multipart bodies to upload files, which the bot never does: fail
        # loudly (into ``errors``) rather than drop the files.
        raise ValueError(f"the fake reads JSON bodies only, not {request.content_type}")
    return json.loads(raw)


@dataclass
class RestFault:
    """A one-shot failure of the next request to one route (its path template, as below)."""

    method: str
    route: str
    status: int
    retry_after: float | None = None


def _fault_answer(fault: RestFault) -> _JsonResponse:
    if fault.status != 429:
        return _error(fault.status, 0, f"{fault.status}: Discord is having trouble")
    assert fault.retry_after is not None
    answer = _JsonResponse(
        {
            "message": "You are being rate limited.",
            "retry_after": fault.retry_after,
            "global": False,
        },
        429,
    )
    # discord.py takes a 429 without Via for a ban by Cloudflare, not a rate limit.
    answer.headers.update(
        {"Via": "1.1 google", "Retry-After": str(math.ceil(fault.retry_after))}
        | {"X-RateLimit-Scope": "user"}
    )
    return answer


class RestApi:
    """The REST routes, answering from (and changing) the world."""

    def __init__(self, world: World, oauth: OAuth2) -> None:
        self.world = world
        self.oauth = oauth
        self.faults: list[RestFault] = []

    def fail_next(
        self, method: str, route: str, status: int, *, retry_after: float | None = None
    ) -> None:
        """One-shot: answer the next ``method`` request to ``route`` (e.g. ``ORIGINAL_MESSAGE``)
        with ``status``: a 429 carries ``retry_after`` as Discord's do, a 5xx a bare error."""
        if status == 429 and retry_after is None:
            raise ValueError("a 429 needs retry_after")
        self.faults.append(RestFault(method, route, status, retry_after))

    def add_routes(self, app: web.Application) -> None:
        """Serve the routes on ``app``; each is recorded in ``world.requests``."""
        routes: list[tuple[str, str, Handler, bool]] = [
            # (method, path, handler, whether it needs "Authorization: Bot <token>")
            ("GET", "/attachments/{file}/{name}", self._get_attachment, False),
            ("GET", API + "/gateway/bot", self._get_gateway_bot, True),
            ("GET", API + "/users/@me", self._get_me, False),  # a bot, or OAuth2's bearer
            ("POST", API + "/users/@me/channels", self._create_dm, True),
            ("GET", API + "/oauth2/applications/@me", self._get_application, True),
            ("PUT", API + "/applications/{app}/commands", self._put_commands, True),
            ("PUT", API + "/applications/{app}/guilds/{guild}/commands", self._put_commands, True),
            ("POST", API + CALLBACK, self._callback, False),
            ("POST", API + FOLLOWUP, self._followup, False),
            ("PATCH", API + ORIGINAL_MESSAGE, self._edit_original, False),
            ("POST", API + "/channels/{channel}/messages", self._post_message, True),
            *((method, path, handler, False) for method, path, handler in self.oauth.routes()),
            # Anything else (a route the bot newly uses, say) is refused, and recorded to show.
            ("*", "/{tail:.*}", self._not_found, False),
        ]
        for method, path, handler, auth in routes:
            route = path.removeprefix(API)
            app.router.add_route(method, path, self._recorded(handler, route, auth=auth))

    def _take_fault(self, method: str, route: str) -> RestFault | None:
        fault = next((f for f in self.faults if (f.method, f.route) == (method, route)), None)
        if fault is not None:
            self.faults.remove(fault)
        return fault

    def _recorded(
        self, handler: Handler, route: str, *, auth: bool
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            world = self.world
            record = RecordedRequest(request.method, request.path.removeprefix(API))
            response: web.StreamResponse
            try:
                record.json = await _read_json(request)
                fault = self._take_fault(request.method, route)
                if auth and request.headers.get("Authorization") != f"Bot {world.token}":
                    response = _error(401, 0, "401: Unauthorized")
                elif fault is not None:
                    response = _fault_answer(fault)
                else:
                    response = await handler(request, record)
            except Exception as exc:
                _log.exception("the fake Discord failed on %s", record)
                world.errors.append(exc)
                response = _error(400, 0, f"the fake Discord failed: {exc!r}")
            record.status = response.status
            world.requests.append(record)
            await world.notify()
            return response

        return handle

    async def _not_found(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        return _error(404, 0, "404: Not Found")

    async def _get_attachment(
        self, request: web.Request, record: RecordedRequest
    ) -> web.StreamResponse:
        file = self.world.attachments.get(int(request.match_info["file"]))
        if file is None:
            return web.Response(status=404)
        return web.Response(
            body=file.data, content_type=file.content_type or "application/octet-stream"
        )

    async def _get_gateway_bot(
        self, request: web.Request, record: RecordedRequest
    ) -> web.StreamResponse:
        # Auto-sharded bots ask here how many shards to run; plain clients go to the gateway.
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        world = self.world
        return _JsonResponse(
            {"url": world.gateway_url, "shards": world.shard_count, "session_start_limit": limit}
        )

    async def _get_me(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        if request.headers.get("Authorization", "").startswith("Bearer "):
            return await self.oauth.get_me(request)
        if request.headers.get("Authorization") != f"Bot {self.world.token}":
            return _error(401, 0, "401: Unauthorized")
        return _JsonResponse({**self.world.bot_user.payload(), "verified": True, "flags": 0})

    async def _get_application(
        self, request: web.Request, record: RecordedRequest
    ) -> web.StreamResponse:
        # discord.py reads it at login, and for Client.is_owner.
        world = self.world
        return _JsonResponse(
            {
                "id": str(world.application_id),
                "name": world.bot_user.name,
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": world.owner.payload(),
                "verify_key": "0" * 64,
                "flags": 0,
            }
        )

    async def _put_commands(
        self, request: web.Request, record: RecordedRequest
    ) -> web.StreamResponse:
        guild_id = int(request.match_info["guild"]) if "guild" in request.match_info else None
        return _JsonResponse(self.world.sync_commands(guild_id, record.json))

    async def _callback(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        world = self.world
        interaction = world.interactions.get(int(request.match_info["id"]))
        if interaction is None or interaction.token != request.match_info["token"]:
            return _error(404, 10062, "Unknown interaction")
        body = record.json or {}
        kind, data = int(body.get("type", 0)), body.get("data") or {}
        callback = RecordedCallback(kind, data, world.now() - interaction.dispatched_at)
        interaction.responses.append(callback)
        if callback.latency > world.response_deadline:
            callback.status = 404
            return _error(404, 10062, "Unknown interaction")
        if interaction.acknowledged:
            callback.status = 400
            return _error(400, 40060, "Interaction has already been acknowledged.")
        message = None
        if interaction.message is not None:
            message = world.messages.get(int(interaction.message["id"]), interaction.message)
        updates = kind in (ResponseType.DEFERRED_UPDATE, ResponseType.UPDATE_MESSAGE)
        on_modal = interaction.type == InteractionType.MODAL_SUBMIT
        if (updates and message is None) or (kind == ResponseType.MODAL and on_modal):
            callback.status = 400
            return _error(400, 50035, f"Invalid Form Body: callback type {kind} not allowed here")
        if kind in (ResponseType.MESSAGE, ResponseType.DEFERRED_MESSAGE):
            on_component = interaction.type == InteractionType.MESSAGE_COMPONENT
            message = world.create_message(
                interaction.channel,
                data,
                kind=MessageType.DEFAULT if on_component else MessageType.CHAT_INPUT_COMMAND,
                flags=LOADING if kind == ResponseType.DEFERRED_MESSAGE else 0,
                webhook=True,
            )
        elif kind == ResponseType.UPDATE_MESSAGE and message is not None:
            world.edit_message(message, data)
        callback.status = 200
        info: Json = {"id": str(interaction.id), "type": interaction.type}
        resource: Json = {"type": kind}
        answers_with_message = updates or kind in (
            ResponseType.MESSAGE,
            ResponseType.DEFERRED_MESSAGE,
        )
        if answers_with_message and message is not None:
            interaction.original = message
            callback.message = copy.deepcopy(message)
            resource["message"] = message
            info.update(
                response_message_id=message["id"],
                response_message_loading=bool(message["flags"] & LOADING),
                response_message_ephemeral=bool(message["flags"] & EPHEMERAL),
            )
        return _JsonResponse({"interaction": info, "resource": resource})

    def _webhook_interaction(self, request: web.Request) -> FakeInteraction | None:
        """The acknowledged interaction a followup or edit is for."""
        token, app = request.match_info["token"], request.match_info["app"]
        world = self.world
        found = next((i for i in world.interactions.values() if i.token == token), None)
        ok = found is not None and found.acknowledged and app == str(world.application_id)
        return found if ok else None

    async def _followup(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        interaction = self._webhook_interaction(request)
        if interaction is None:
            return _error(404, 10015, "Unknown Webhook")
        original = interaction.original
        if original is not None and original["flags"] & LOADING:
            # The first followup after a "thinking" defer replaces the placeholder.
            message = self.world.edit_message(original, record.json or {})
        else:
            message = self.world.create_message(
                interaction.channel,
                record.json or {},
                kind=MessageType.CHAT_INPUT_COMMAND,
                webhook=True,
            )
        interaction.followups.append(copy.deepcopy(message))
        # The message, as for ?wait=true: discord.py always waits on interaction followups.
        return _JsonResponse(message)

    async def _edit_original(
        self, request: web.Request, record: RecordedRequest
    ) -> web.StreamResponse:
        interaction = self._webhook_interaction(request)
        if interaction is None:
            return _error(404, 10015, "Unknown Webhook")
        message = interaction.original
        if message is None:
            return _error(404, 10008, "Unknown Message")
        self.world.edit_message(message, record.json or {})
        interaction.edits.append(copy.deepcopy(message))
        return _JsonResponse(message)

    async def _create_dm(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        world = self.world
        user = world.users.get(int((record.json or {}).get("recipient_id", 0)))
        if user is None:
            return _error(400, 50035, "Invalid Form Body: unknown recipient_id")
        return _JsonResponse(world.dm_channel(user).payload())

    async def _post_message(
        self, request: web.Request, record: RecordedRequest
    ) -> web.StreamResponse:
        world = self.world
        channel = world.channel(request.match_info["channel"])
        if channel is None:
            return _error(404, 10003, "Unknown Channel")
        if channel.recipient is not None and channel.recipient.id in world.refused_dms:
            return _error(403, 50007, "Cannot send messages to this user")
        message = world.create_message(channel, record.json or {})
        world.record_post(channel, message)
        return _JsonResponse(message)
