"""Sealing of secrets at rest: Fernet through MultiFernet so that keys can rotate."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SealingError(Exception):
    """A sealed value cannot be opened with any configured key."""


class Sealer:
    """Seals and opens short secrets. The first key seals; every key opens."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])

    def __repr__(self) -> str:
        return "Sealer(<keys hidden>)"

    def seal(self, plaintext: str) -> str:
        """Encrypt and authenticate `plaintext` under the first key."""
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        """Decrypt a value sealed under any of the keys."""
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SealingError("sealed value cannot be opened with the configured keys") from None

    def reseal(self, sealed: str) -> str:
        """Re-encrypt a value under the first key (for key rotation)."""
        return self._fernet.rotate(sealed.encode()).decode()

    @staticmethod
    def generate_key() -> str:
        """A fresh key suitable for TOKEN_ENCRYPTION_KEYS."""
        return Fernet.generate_key().decode()
