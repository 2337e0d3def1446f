"""Sealing tokens at rest, with key rotation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.sealing import Sealer, SealingError

OLD_KEY = Sealer.generate_key()
NEW_KEY = Sealer.generate_key()


@given(st.text())
def test_sealed_values_open_to_themselves(plaintext: str) -> None:
    """Any text survives sealing and opening, and is not visible in the sealed form."""
    sealer = Sealer([OLD_KEY])
    sealed = sealer.seal(plaintext)
    assert sealer.open(sealed) == plaintext
    if len(plaintext) >= 4:
        assert plaintext not in sealed


def test_rotation_opens_old_values_and_seals_with_the_first_key() -> None:
    """With a new key first, old values still open; new ones need the new key."""
    old_sealed = Sealer([OLD_KEY]).seal("token")
    rotated = Sealer([NEW_KEY, OLD_KEY])

    assert rotated.open(old_sealed) == "token"
    new_sealed = rotated.seal("token")
    assert Sealer([NEW_KEY]).open(new_sealed) == "token"
    with pytest.raises(SealingError):
        Sealer([OLD_KEY]).open(new_sealed)


def test_reseal_moves_a_value_to_the_first_key() -> None:
    """Resealing lets the old key be dropped afterwards."""
    old_sealed = Sealer([OLD_KEY]).seal("secret")
    resealed = Sealer([NEW_KEY, OLD_KEY]).reseal(old_sealed)
    assert Sealer([NEW_KEY]).open(resealed) == "secret"


def test_an_unknown_key_cannot_open() -> None:
    """A value sealed elsewhere fails with a clear error that shows no key."""
    sealed = Sealer([OLD_KEY]).seal("secret")
    with pytest.raises(SealingError) as raised:
        Sealer([NEW_KEY]).open(sealed)
    assert NEW_KEY not in str(raised.value)
    assert NEW_KEY not in repr(Sealer([NEW_KEY]))
