"""Settings, read once from the environment and `.env`.

A missing or malformed setting stops start-up with one line naming it (`describe_error`).
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_PLACEHOLDERS = {"", "changeme", "change-me", "replace-me", "your-token-here", "xxx", "todo"}
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/tweetlink.db"


class MissingSetting(Exception):
    """A setting the command needs is not set."""

    def __init__(self, names: str) -> None:
        verb = "are" if " and " in names else "is"
        super().__init__(f"configuration error: {names} {verb} not set (see .env.example)")


def _refuse_placeholder(value: str) -> str:
    if value.strip().lower() in _PLACEHOLDERS:
        raise ValueError("is empty or a placeholder; set the real value")
    return value


def _unquoted(value: str) -> str:
    """`docker --env-file` keeps quotes that a shell would strip: strip matching ones."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1].strip()
    return value


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        parts = (_unquoted(part) for part in _unquoted(value).split(","))
        return [part for part in parts if part]
    return value


DATABASE_URL_FORMS = (
    "sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DATABASE"
)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def check_database_url(url: str) -> str:
    """A URL tweetlink can use, or a ValueError that says which forms it takes."""
    url = _unquoted(url)
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme == "postgresql+asyncpg":
        if not _installed("asyncpg"):
            raise ValueError(
                "is a PostgreSQL URL but asyncpg is not installed: "
                "install the postgres extra (pip install -e '.[postgres]')"
            )
        return url
    if scheme == "sqlite+aiosqlite":
        return url
    raise ValueError(f"must be {DATABASE_URL_FORMS}")


# Bounds for the settings: past them a value is a typo, and dates computed from it overflow.
DAY_SECONDS = 24 * 60 * 60
MAX_DELETE_WINDOW_HOURS = 30 * 24
MAX_DAILY_CAP = 100_000  # tweets a day, for a member or a server; X's own limits end far below


class Settings(BaseSettings):
    """Everything tweetlink can be configured with; `.env.example` explains each one."""

    model_config = SettingsConfigDict(
        env_file=".env", env_ignore_empty=True, extra="ignore", hide_input_in_errors=True
    )

    discord_token: SecretStr | None = None
    twitter_consumer_key: str
    twitter_consumer_secret: SecretStr
    public_url: str
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=0, le=65535)
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    database_url: str = DEFAULT_DATABASE_URL
    token_encryption_keys: Annotated[list[SecretStr], NoDecode]
    admin_user_ids: Annotated[list[int], NoDecode] = []
    dev_guild_id: int | None = None
    twitter_api_base: str = "https://api.x.com"
    discord_client_id: int | None = Field(default=None, gt=0)
    discord_client_secret: SecretStr | None = None
    discord_base_url: str = "https://discord.com"
    twitter_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    link_intent_ttl_seconds: int = Field(default=900, gt=0, le=DAY_SECONDS)
    confirmation_code_ttl_seconds: int = Field(default=600, gt=0, le=DAY_SECONDS)
    confirmation_code_attempts: int = Field(default=5, gt=0, le=100)
    tweet_cooldown_seconds: int = Field(default=30, ge=0, le=DAY_SECONDS)
    tweet_delete_window_hours: int = Field(default=24, ge=0, le=MAX_DELETE_WINDOW_HOURS)
    member_daily_tweet_cap: int = Field(default=10, ge=0, le=MAX_DAILY_CAP)
    server_daily_tweet_cap: int = Field(default=100, ge=0, le=MAX_DAILY_CAP)
    price_per_post_usd: float = Field(default=0.015, ge=0, le=100)
    price_per_post_with_url_usd: float = Field(default=0.20, ge=0, le=100)
    housekeeping_interval_seconds: float = Field(default=600, gt=0, le=DAY_SECONDS)
    log_level: str = "INFO"

    @field_validator("twitter_consumer_key", "public_url", "twitter_api_base", "discord_base_url")
    @classmethod
    def _not_placeholder(cls, value: str) -> str:
        return _refuse_placeholder(value)

    @field_validator("twitter_consumer_secret", "discord_token", "discord_client_secret")
    @classmethod
    def _secret_not_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _refuse_placeholder(value.get_secret_value())
        return value

    @field_validator("public_url", "twitter_api_base", "discord_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, value: str) -> str:
        return check_database_url(value)

    @field_validator("admin_user_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("token_encryption_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        keys = _split_csv(value)
        if not keys:
            raise ValueError("needs at least one key (generate one with `tweetlink keygen`)")
        for key in keys:
            try:
                raw = base64.urlsafe_b64decode(key.encode())
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) != 32:
                raise ValueError(
                    "each key must be a Fernet key (generate one with `tweetlink keygen`)"
                )
        return keys

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @model_validator(mode="after")
    def _linked_roles_whole(self) -> Settings:
        if (self.discord_client_id is None) != (self.discord_client_secret is None):
            given, missing = "DISCORD_CLIENT_ID", "DISCORD_CLIENT_SECRET"
            if self.discord_client_id is None:
                given, missing = missing, given
            raise ValueError(
                f"{given} is set without {missing}: Linked Roles need both (or neither, for none)"
            )
        return self

    @property
    def callback_url(self) -> str:
        """Where X sends the browser back; register it in the X app's settings."""
        return f"{self.public_url}/oauth/callback"

    @property
    def linked_roles_enabled(self) -> bool:
        """Whether the Linked Roles pages work: they need the app's OAuth2 client id and secret."""
        return self.discord_client_id is not None and self.discord_client_secret is not None

    @property
    def discord_redirect_url(self) -> str:
        """Where Discord sends the browser back; register it in the app's OAuth2 redirects."""
        return f"{self.public_url}/discord/callback"

    @property
    def linked_role_url(self) -> str:
        """The app's Linked Roles Verification URL, to set in the developer portal."""
        return f"{self.public_url}/linked-role"

    def link_url(self, intent_id: str) -> str:
        """The URL a member opens to link their account."""
        return f"{self.public_url}/link/{intent_id}"

    def bot_token(self) -> str:
        """DISCORD_TOKEN in clear, for the commands that run the bot: the one check it is set."""
        if self.discord_token is None:
            raise MissingSetting("DISCORD_TOKEN")
        return self.discord_token.get_secret_value()

    def encryption_keys(self) -> list[str]:
        """The sealing keys in clear, first one sealing."""
        return [key.get_secret_value() for key in self.token_encryption_keys]


def describe_error(error: ValidationError, *, also_missing: Sequence[str] = ()) -> str:
    """One line that names every missing setting (in `.env.example`'s order, after
    `also_missing`, settings the command needs besides), or else the first bad one, without
    echoing its value."""
    problems = error.errors()
    missing = [*also_missing]
    missing += [str(p["loc"][0]).upper() for p in problems if p["type"] == "missing" and p["loc"]]
    if missing:
        return str(MissingSetting(_and_list(missing)))
    first = problems[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    if not first["loc"]:  # a rule across settings: its message names them
        return f"configuration error: {message}"
    return f"configuration error: {str(first['loc'][0]).upper()} {message}"


def _and_list(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


class _DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_ignore_empty=True, extra="ignore", hide_input_in_errors=True
    )

    database_url: str = DEFAULT_DATABASE_URL

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, value: str) -> str:
        return check_database_url(value)


ENV_FILE_VARIABLE = "TWEETLINK_ENV_FILE"


def env_file() -> Path:
    """The settings file: TWEETLINK_ENV_FILE (which `--env-file` sets), else `.env` here."""
    return Path(os.environ.get(ENV_FILE_VARIABLE) or ".env")


def load_from_env() -> Settings:
    """The settings, from the environment and the settings file."""
    return Settings(_env_file=env_file())  # type: ignore[call-arg]


class _DiscordTokenSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore")

    discord_token: str | None = None


def discord_token_is_set() -> bool:
    """Whether DISCORD_TOKEN is set, read alone: when other settings are wrong too."""
    return _DiscordTokenSettings(_env_file=env_file()).discord_token is not None  # type: ignore[call-arg]


def database_url_from_env() -> str:
    """DATABASE_URL alone, for migrations, which need no other setting."""
    return _DatabaseSettings(_env_file=env_file()).database_url  # type: ignore[call-arg]
