"""Weighted length by twitter-text v3 rules, at the limit's edges."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twitter_text import parse_tweet
from twitter_text.extract_urls import extract_urls_with_indices

from core import errors
from core.tweet_text import MAX_WEIGHTED_LENGTH, check_text, measure

URL = "https://example.com/a/very/long/path/that/still/counts/as/twenty-three?q=1"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # one ZWJ sequence
THUMBS = "\U0001f44d\U0001f3fd"  # emoji with a skin-tone modifier
E_ACUTE_DECOMPOSED = "e\u0301"  # NFC makes it one code point


def cases(weight: int) -> list[tuple[str, str]]:
    """Texts of exactly `weight` (weight >= 26), one per kind of character."""
    return [
        ("ascii", "a" * weight),
        ("url", "a" * (weight - 24) + " " + URL),
        ("cjk", "日" * ((weight - 1) // 2) + "a" * ((weight - 1) % 2 + 1)),
        ("emoji", "\U0001f600" * ((weight - 2) // 2) + "a" * ((weight - 2) % 2 + 2)),
        ("zwj", FAMILY * ((weight - 2) // 2) + "a" * ((weight - 2) % 2 + 2)),
        ("skin tone", THUMBS * ((weight - 2) // 2) + "a" * ((weight - 2) % 2 + 2)),
        ("combining", E_ACUTE_DECOMPOSED * weight),
        ("mixed", "日本 " + URL + " " + FAMILY + " " + "a" * (weight - 32)),
    ]


TABLE = [
    pytest.param(text, weight, id=f"{kind}-{weight}")
    for weight in (279, 280, 281)
    for kind, text in cases(weight)
]


@pytest.mark.parametrize(("text", "weight"), TABLE)
def test_weighted_length(text: str, weight: int) -> None:
    """Each text weighs exactly what X would count."""
    assert measure(text).weighted_length == weight


@pytest.mark.parametrize(("text", "weight"), TABLE)
def test_the_limit_is_280(text: str, weight: int) -> None:
    """279 and 280 pass; 281 is refused with the count in the message."""
    if weight <= MAX_WEIGHTED_LENGTH:
        assert check_text(text, has_image=False).weighted_length == weight
    else:
        with pytest.raises(errors.TweetInvalid, match="281 characters"):
            check_text(text, has_image=False)


def test_urls_are_detected() -> None:
    """A URL (with or without a scheme) marks the tweet as having one, for pricing."""
    assert measure(f"see {URL}").has_url
    assert measure("see example.com").has_url
    assert not measure("no links here").has_url


def test_empty_text_needs_an_image() -> None:
    """Blank text is refused, unless an image is attached."""
    with pytest.raises(errors.TweetInvalid, match="needs some text"):
        check_text("   ", has_image=False)
    assert check_text("", has_image=True).weighted_length == 0


def test_characters_x_refuses_are_refused() -> None:
    """Non-characters such as U+FFFE are refused with a message."""
    with pytest.raises(errors.TweetInvalid, match="characters X does not accept"):
        check_text("hello \ufffe", has_image=False)


# Pieces a tweet is made of, so that random texts hold URLs, emoji and the rest next to each other.
PIECES = st.one_of(
    st.text(max_size=12),
    st.text(st.characters(max_codepoint=127), max_size=12),
    st.sampled_from(
        [
            URL,
            "example.com",
            "x.co/a",
            "http://t.co/abc",
            FAMILY,
            THUMBS,
            "\U0001f600",
            "1\ufe0f\u20e3",  # a keycap: an ASCII digit starts the emoji
            "#\u20e3",
            "\u00a9\ufe0f",
            "\U0001f1ef\U0001f1f5",  # a flag
            E_ACUTE_DECOMPOSED,
            "日本語",
            "\u2014\u2019\u2033",
            "\r\n",
            "\r",
            " ",
            ".",
            "@",
        ]
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(PIECES, max_size=12).map("".join))
def test_measure_agrees_with_twitter_text(text: str) -> None:
    """Our quicker weighing gives twitter-text's own weighted length, and finds its URLs."""
    measured = measure(text)
    assert measured.weighted_length == parse_tweet(text).weightedLength
    assert measured.has_url == bool(extract_urls_with_indices(unicodedata.normalize("NFC", text)))
