"""Delete from X: the button on a posted tweet's answer, its confirmation, and taking it back.

Each button's custom_id names the tweet, its author and the X handle, so the buttons work after
a restart and the URL needs no lookup. Only the author's presses do anything.
"""

from __future__ import annotations

import re
from typing import Any, Self

import discord

from bot.client import TweetlinkBot
from bot.replies import answers_errors, describe, report_error
from core import errors
from core.tweets import tweet_url

_IDS = r"(?P<tweet>\d+):(?P<owner>\d+):(?P<handle>\w+)"


class TweetButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"^$"):
    """A button about one posted tweet, answering its author only."""

    action = ""

    def __init__(self, tweet_id: str, owner_id: int, handle: str, **button: Any) -> None:
        custom_id = f"tweetlink:{self.action}:{tweet_id}:{owner_id}:{handle}"
        super().__init__(discord.ui.Button(custom_id=custom_id, **button))
        self.tweet_id, self.owner_id, self.handle = tweet_id, owner_id, handle

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        return cls(match["tweet"], int(match["owner"]), match["handle"])

    @property
    def url(self) -> str:
        return tweet_url(self.handle, self.tweet_id)

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(str(errors.NotYourTweet()), ephemeral=True)
        return False


def posted_answer(
    tweet_id: str, owner_id: int, handle: str, *, deletable: bool = True
) -> dict[str, Any]:
    """The answer to a posted tweet: its URL, and Delete from X if the operator allows it."""
    view = None
    if deletable:
        view = discord.ui.View(timeout=None)
        view.add_item(DeleteButton(tweet_id, owner_id, handle))
        view.stop()  # the dynamic items answer clicks; no copy of the view needs keeping
    return {"content": f"Posted: {tweet_url(handle, tweet_id)}", "embed": None, "view": view}


class DeleteButton(TweetButton, template=rf"tweetlink:delete:{_IDS}"):
    """Asks the author to confirm."""

    action = "delete"

    def __init__(self, tweet_id: str, owner_id: int, handle: str) -> None:
        super().__init__(
            tweet_id, owner_id, handle, label="Delete from X", style=discord.ButtonStyle.danger
        )

    @answers_errors
    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        view = discord.ui.View(timeout=None)
        view.add_item(ConfirmDeleteButton(self.tweet_id, self.owner_id, self.handle))
        view.add_item(KeepButton(self.tweet_id, self.owner_id, self.handle))
        view.stop()
        await interaction.response.edit_message(
            content=f"Delete {self.url} from X? This cannot be undone.", view=view
        )


class ConfirmDeleteButton(TweetButton, template=rf"tweetlink:delete-yes:{_IDS}"):
    """Deletes the tweet at X and says so in the answer."""

    action = "delete-yes"

    def __init__(self, tweet_id: str, owner_id: int, handle: str) -> None:
        super().__init__(
            tweet_id, owner_id, handle, label="Delete it", style=discord.ButtonStyle.danger
        )

    @answers_errors
    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer()  # X may take a while; the answer says what happened
        bot: TweetlinkBot = interaction.client
        try:
            existed = await bot.services.tweets.delete(self.tweet_id, self.owner_id)
        except Exception as error:
            message = describe(error)
            if message is None:
                await report_error(interaction, error)
                message = "Something went wrong on our side; the tweet was not deleted."
            # X failing or busy: the button comes back for another try.
            again = posted_answer(self.tweet_id, self.owner_id, self.handle)["view"]
            retry = isinstance(error, errors.TwitterError)
            await interaction.edit_original_response(content=message, view=again if retry else None)
            return
        gone = "Deleted from X" if existed else "It was already gone from X"
        await interaction.edit_original_response(content=f"{gone}: {self.url}", view=None)


class KeepButton(TweetButton, template=rf"tweetlink:delete-no:{_IDS}"):
    """Puts the answer back as it was."""

    action = "delete-no"

    def __init__(self, tweet_id: str, owner_id: int, handle: str) -> None:
        super().__init__(
            tweet_id, owner_id, handle, label="Keep it", style=discord.ButtonStyle.secondary
        )

    @answers_errors
    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        answer = posted_answer(self.tweet_id, self.owner_id, self.handle)
        await interaction.response.edit_message(content=answer["content"], view=answer["view"])


BUTTONS = (DeleteButton, ConfirmDeleteButton, KeepButton)
