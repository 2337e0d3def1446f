"""Settings: a valid file loads; a missing or malformed value is named in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.config import Settings, describe_error

VALID_ENV = Path(__file__).parent / "data" / "valid.env"
EXAMPLE_ENV = Path(__file__).parent.parent / ".env.example"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come only from the file each test names."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def error_line(**overrides: str) -> str:
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=VALID_ENV, **overrides)  # type: ignore[arg-type]
    return describe_error(raised.value)


def test_valid_file_loads() -> None:
    """The checked-in file gives typed values, a trimmed URL and the callback URL."""
    settings = Settings(_env_file=VALID_ENV)  # type: ignore[call-arg]
    assert settings.public_url == "https://tweetlink.example.org"
    assert settings.callback_url == "https://tweetlink.example.org/oauth/callback"
    assert settings.admin_user_ids == [80351110224678912, 80351110224678913]
    assert settings.dev_guild_id is None
    assert settings.log_level == "DEBUG"
    assert len(settings.encryption_keys()) == 2
    assert settings.database_url.startswith("sqlite+aiosqlite:///")


def test_secrets_are_hidden_in_repr() -> None:
    """Neither the consumer secret, the Discord token nor the keys show in a repr."""
    settings = Settings(_env_file=VALID_ENV)  # type: ignore[call-arg]
    shown = repr(settings)
    assert "consumer-secret" not in shown
    assert "fake.token" not in shown
    assert "uwSyYhGnyEf2" not in shown


def test_example_file_lists_every_setting() -> None:
    """.env.example names every setting there is."""
    listed = {
        line.split("=", 1)[0]
        for line in EXAMPLE_ENV.read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert listed == {name.upper() for name in Settings.model_fields}


def test_the_example_file_alone_names_every_missing_setting() -> None:
    """Copying .env.example without filling it in stops with one line naming every setting
    still to fill in, in the file's order."""
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=EXAMPLE_ENV)  # type: ignore[call-arg]
    assert describe_error(raised.value) == (
        "configuration error: TWITTER_CONSUMER_KEY, TWITTER_CONSUMER_SECRET and "
        "TOKEN_ENCRYPTION_KEYS are not set (see .env.example)"
    )


@pytest.mark.parametrize("quote", ['"', "'"])
def test_sealing_keys_pasted_with_quotes_are_unquoted(quote: str) -> None:
    """`docker --env-file` keeps the quotes a shell would strip; the keys still load."""
    keys = "uwSyYhGnyEf2NeG9RqTA9AnL2lTHhcsFTyzbGTUGJv8="
    settings = Settings(  # type: ignore[call-arg]
        _env_file=VALID_ENV, token_encryption_keys=f"{quote}{keys}{quote}"
    )
    assert settings.encryption_keys() == [keys]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"public_url": "tweetlink.example.org"}, "PUBLIC_URL must start with http://"),
        ({"twitter_consumer_key": "changeme"}, "TWITTER_CONSUMER_KEY is empty or a placeholder"),
        ({"twitter_consumer_secret": " "}, "TWITTER_CONSUMER_SECRET is empty or a placeholder"),
        ({"token_encryption_keys": "not-a-key"}, "TOKEN_ENCRYPTION_KEYS each key must be a Fernet"),
        ({"admin_user_ids": "12,abc"}, "ADMIN_USER_IDS"),
        ({"web_port": "99999"}, "WEB_PORT"),
        ({"log_level": "loud"}, "LOG_LEVEL must be one of"),
        ({"discord_client_id": "123"}, "DISCORD_CLIENT_ID is set without DISCORD_CLIENT_SECRET"),
        ({"discord_client_secret": "s3cr3t-value"}, "DISCORD_CLIENT_SECRET is set without"),
        ({"discord_client_id": "abc", "discord_client_secret": "x"}, "DISCORD_CLIENT_ID"),
    ],
)
def test_malformed_value_is_named_in_one_line(overrides: dict[str, str], expected: str) -> None:
    """Each bad value gives one line that names its setting and does not echo the value."""
    line = error_line(**overrides)
    assert line.startswith(f"configuration error: {expected}")
    assert "\n" not in line
    for value in overrides.values():
        if value.strip() and len(value) > 4:
            assert value not in line
