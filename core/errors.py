"""The domain exceptions of tweetlink.

`core/` raises these; the front doors (`bot/`, `web/`, the CLI) turn them into words for people.
Every message is safe to show: none carries a token, a secret or a verifier.

    TweetlinkError
    ├── LinkError                  something about a link flow or a stored link
    │   ├── IntentNotFound         unknown or expired link URL
    │   ├── IntentFinished         the flow already finished, was voided or was cancelled
    │   ├── UnknownRequestToken    a callback whose request token matches no flow
    │   ├── AuthorizationDenied    the member pressed Cancel on X
    │   ├── NoPendingLink          a code entered with no flow waiting for one
    │   ├── WrongCode              a code that does not match (attempts_left says how many remain)
    │   ├── TooManyAttempts        too many wrong codes: the flow is void
    │   ├── CodeExpired            the code's life ran out
    │   ├── MalformedCode          what was typed is not six digits
    │   ├── FormExpired            a form posted without its page's token (CSRF)
    │   ├── NotLinked              no linked account for that Discord user
    │   └── LinkRevoked            X no longer accepts the member's token
    ├── TweetError                 a tweet that cannot be posted as asked
    │   ├── TweetInvalid           empty, too long or otherwise not a tweet
    │   ├── ImageInvalid           not PNG/JPEG/GIF/WEBP, or over 5 MB
    │   ├── DraftGone              the preview expired, was posted or was cancelled
    │   ├── TweetCooldown          too soon after the member's last tweet (retry_at)
    │   ├── DailyCapReached        the member's or the server's daily cap is used up
    │   ├── TweetingDisabled       the server turned tweeting off
    │   ├── RoleRequired           the server requires a role the member lacks
    │   ├── MemberBlocked          a server manager blocked the member from tweeting there
    │   ├── ShuttingDown           the process is stopping: it takes no new post
    │   ├── NotYourTweet           only a tweet's author may delete it
    │   ├── TweetAlreadyDeleted    Delete from X pressed for a tweet already deleted
    │   └── TweetNotDeletable      too old to delete from here, or posted as another X account
    ├── InvalidPolicy              a server rule out of its range: nothing was changed
    ├── LinkedRoleError            the Linked Roles sign-in with Discord went wrong
    │   ├── LinkedRolesOff         the operator has not set up Linked Roles
    │   ├── SignInExpired          a forged, replayed or expired `state`, or another browser's
    │   ├── DiscordDenied          the member pressed Cancel on Discord
    │   ├── DiscordGrantRevoked    Discord no longer accepts our grant for the member
    │   └── DiscordUnavailable     Discord unreachable, timed out, 5xx or an unexpected answer
    └── TwitterError               X answered badly or not at all
        ├── TwitterUnavailable     unreachable, timed out or a 5xx: nothing happened
        ├── TwitterAuthRevoked     401: the token was revoked or is invalid
        ├── TwitterNoWriteAccess   the app or token may read but not write
        ├── TwitterCallbackRejected  the callback URL is not registered (or not confirmed)
        ├── TwitterDuplicate       X refused a tweet identical to an earlier one
        ├── TwitterCreditsExhausted  the operator's prepaid X credits are used up (402)
        ├── TwitterRateLimited     too many requests; X says when it resets (reset_at)
        ├── TwitterMaybePosted     no clear answer to the POST: X may or may not have posted it
        └── TwitterRejected        any other refusal, with X's code when it gave one
"""

from __future__ import annotations

from datetime import datetime

from core.models import IntentStatus


class TweetlinkError(Exception):
    """Base of every error that tweetlink explains to a person."""


class LinkError(TweetlinkError):
    """A link flow or a stored link cannot do what was asked."""


class IntentNotFound(LinkError):
    """The link URL is unknown or has expired."""

    def __init__(self) -> None:
        super().__init__(
            "This link has expired or does not exist. "
            "Run /link-twitter in Discord to get a new one."
        )


class IntentFinished(LinkError):
    """The flow was already finished, voided or replaced."""

    def __init__(self, detail: str = "This link has already been used.") -> None:
        super().__init__(f"{detail} Run /link-twitter in Discord if you want to start again.")

    @classmethod
    def because(cls, status: str) -> IntentFinished:
        """Why a flow in this status (a `core.models.IntentStatus`) can go no further."""
        if status == IntentStatus.LINKED:
            return cls("This link is already complete.")
        if status == IntentStatus.VOID:
            return cls("This link was cancelled after too many wrong codes.")
        if status == IntentStatus.AUTHORIZED:
            return cls(
                "This link was already authorized on X: enter the code it showed in Discord."
            )
        return cls()


class UnknownRequestToken(LinkError):
    """X sent us back a request token that belongs to no live flow."""

    def __init__(self) -> None:
        super().__init__(
            "This sign-in does not belong to any link in progress. "
            "Start again with /link-twitter in Discord."
        )


class AuthorizationDenied(LinkError):
    """The member cancelled on X; nothing was linked."""

    def __init__(self, intent_id: str) -> None:
        self.intent_id = intent_id
        super().__init__("You cancelled on X, so nothing was linked.")


class NoPendingLink(LinkError):
    """A code was entered but no flow of this Discord user is waiting for one."""

    def __init__(self) -> None:
        super().__init__(
            "There is no link waiting for a code. Run /link-twitter, authorize on X, "
            "then enter the code shown there."
        )


class WrongCode(LinkError):
    """The code does not match."""

    def __init__(self, attempts_left: int) -> None:
        self.attempts_left = attempts_left
        plural = "attempt" if attempts_left == 1 else "attempts"
        super().__init__(f"That code is not right. {attempts_left} {plural} left.")


class TooManyAttempts(LinkError):
    """Too many wrong codes: the flow is void."""

    def __init__(self) -> None:
        super().__init__(
            "Too many wrong codes, so this link was cancelled. Run /link-twitter to start again."
        )


class CodeExpired(LinkError):
    """The confirmation code's life ran out."""

    def __init__(self) -> None:
        super().__init__("That code has expired. Run /link-twitter to start again.")


class MalformedCode(LinkError):
    """What was typed is not a 6-digit code."""

    def __init__(self) -> None:
        super().__init__("The code is the 6 digits shown on the page after you authorized on X.")


class FormExpired(LinkError):
    """A form was submitted without the token of the page it came from."""

    def __init__(self) -> None:
        super().__init__("This form is out of date. Open the page again and press its button.")


class NotLinked(LinkError):
    """The Discord user has no linked X account."""

    def __init__(self) -> None:
        super().__init__("No X account is linked. Run /link-twitter to link one.")


class LinkRevoked(LinkError):
    """X refused the member's token: it was revoked, so the link must be made again."""

    def __init__(self) -> None:
        super().__init__(
            "X no longer accepts your link (access was revoked). Run /link-twitter to link again."
        )


class TweetError(TweetlinkError):
    """A tweet that cannot be posted as asked; nothing was sent to X."""


class TweetInvalid(TweetError):
    """The text is not a valid tweet."""


class ImageInvalid(TweetError):
    """The image cannot be attached to a tweet."""


class DraftGone(TweetError):
    """The preview expired, was already posted or was cancelled."""

    def __init__(self) -> None:
        super().__init__("This preview has expired or was already used. Run /tweet again.")


class TweetCooldown(TweetError):
    """Too soon after the member's last tweet."""

    def __init__(self, retry_at: datetime) -> None:
        self.retry_at = retry_at
        super().__init__("You are posting too fast; wait a little before the next tweet.")


class DailyCapReached(TweetError):
    """The member's or the server's tweets for the last 24 hours reached the cap."""

    def __init__(self, scope: str, cap: int) -> None:
        self.scope = scope
        self.cap = cap
        whose = "You have" if scope == "member" else "This server has"
        super().__init__(
            f"{whose} reached the limit of {cap} tweets in 24 hours. Try again tomorrow."
        )


class TweetingDisabled(TweetError):
    """The server's managers turned tweeting off."""

    def __init__(self) -> None:
        super().__init__("Posting to X is turned off in this server.")


class RoleRequired(TweetError):
    """The server requires a role for tweeting."""

    def __init__(self, role_id: int) -> None:
        self.role_id = role_id
        super().__init__("This server lets only members with a certain role post to X.")


class MemberBlocked(TweetError):
    """A server manager blocked this member from tweeting in this server."""

    def __init__(self) -> None:
        super().__init__("A server manager has blocked you from posting to X in this server.")


class ShuttingDown(TweetError):
    """The bot is stopping (a restart, say): posts under way finish, new ones wait."""

    def __init__(self) -> None:
        super().__init__(
            "The bot is restarting, so nothing was posted. Press Post again in a minute."
        )


class NotYourTweet(TweetError):
    """Someone other than the tweet's author pressed its Delete from X."""

    def __init__(self) -> None:
        super().__init__("Only the member who posted this tweet can delete it.")


class TweetAlreadyDeleted(TweetError):
    """The tweet was deleted already, from here."""

    def __init__(self) -> None:
        super().__init__("This tweet is already deleted from X.")


class TweetNotDeletable(TweetError):
    """Past the delete window, or the member's link is now to another X account."""


class InvalidPolicy(TweetlinkError):
    """A server rule out of its range; nothing was changed."""


class LinkedRoleError(TweetlinkError):
    """The Linked Roles sign-in with Discord could not finish."""


class LinkedRolesOff(LinkedRoleError):
    """DISCORD_CLIENT_ID and DISCORD_CLIENT_SECRET are not both set."""

    def __init__(self) -> None:
        super().__init__(
            "This bot's operator has not set up Linked Roles. "
            "Run /link-twitter in Discord to link your X account."
        )


class SignInExpired(LinkedRoleError):
    """The `state` Discord sent back is unknown, used, expired or from another browser."""

    def __init__(self) -> None:
        super().__init__(
            "This sign-in is out of date or was started in another browser. "
            "Start again from the server's Linked Roles menu in Discord."
        )


class DiscordDenied(LinkedRoleError):
    """The member pressed Cancel on Discord's authorization page."""

    def __init__(self) -> None:
        super().__init__(
            "You cancelled on Discord, so nothing was changed. "
            "Pick tweetlink in the server's Linked Roles menu to try again."
        )


class DiscordGrantRevoked(LinkedRoleError):
    """Discord refused our OAuth2 grant for the member: they removed the app's access."""

    def __init__(self) -> None:
        super().__init__(
            "Discord no longer accepts tweetlink's access to your account. "
            "Pick tweetlink in the server's Linked Roles menu to connect again."
        )


class DiscordUnavailable(LinkedRoleError):
    """Discord could not be reached, timed out, failed or answered what we cannot read."""

    def __init__(self) -> None:
        super().__init__("Discord could not be reached. Nothing was changed; please try again.")


class TwitterError(TweetlinkError):
    """X answered badly or not at all."""


class TwitterUnavailable(TwitterError):
    """X could not be reached, timed out or failed (5xx); nothing was done there."""

    def __init__(
        self, detail: str = "X could not be reached.", outcome: str = "Nothing was changed"
    ) -> None:
        self.detail = detail
        super().__init__(f"{detail} {outcome}; please try again in a moment.")


class TwitterAuthRevoked(TwitterError):
    """X refused the credentials (401): the token was revoked or the keys are wrong."""

    def __init__(self) -> None:
        super().__init__("X refused the sign-in: access was revoked or the keys are not valid.")


class TwitterNoWriteAccess(TwitterError):
    """The app or the token has no write access, so it cannot post."""

    def __init__(self) -> None:
        super().__init__(
            "X granted read-only access. The bot's X app must have the 'Read and write' "
            "permission; once the operator has set it, link again."
        )


class TwitterCallbackRejected(TwitterError):
    """X did not accept our callback URL."""

    def __init__(self) -> None:
        super().__init__(
            "X did not accept the callback URL. Register PUBLIC_URL/oauth/callback "
            "in the X app's settings."
        )


class TwitterDuplicate(TwitterError):
    """X refuses a tweet with the same text as an earlier one."""

    def __init__(self) -> None:
        super().__init__(
            "X refused this tweet: you already posted the same text. Nothing was posted."
        )


class TwitterCreditsExhausted(TwitterError):
    """X answered 402: the operator's prepaid credits are used up."""

    def __init__(self) -> None:
        super().__init__(
            "The bot's X credits are used up, so nothing was posted. "
            "Please tell the bot's operator."
        )


class TwitterRateLimited(TwitterError):
    """X's rate limit was hit; `reset_at` says when it lifts, when X said so."""

    def __init__(self, reset_at: datetime | None, outcome: str = "nothing was posted") -> None:
        self.reset_at = reset_at
        self.outcome = outcome
        super().__init__(f"X's rate limit was reached, so {outcome}. Try again later.")


class TwitterMaybePosted(TwitterError):
    """The POST was sent and no clear answer came back: X may or may not have posted it."""

    def __init__(self, what_happened: str = "X did not answer in time") -> None:
        super().__init__(
            f"{what_happened}, so the tweet may or may not have been posted. "
            "Check your profile before trying again."
        )


class TwitterRejected(TwitterError):
    """X refused the request for another reason."""

    def __init__(self, status: int, code: int | None, detail: str) -> None:
        self.status = status
        self.code = code
        super().__init__(f"X refused the request ({status}): {detail}")
