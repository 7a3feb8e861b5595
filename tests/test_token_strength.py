"""The token-strength rule: what people make is refused, what the suggested
commands make passes."""

from __future__ import annotations

import argparse
import secrets

import pytest

from fastvideo_ui.auth.strength import MIN_GUESSES_LOG10, TOKEN_RULE, guesses_log10, weakness
from fastvideo_ui.config import add_server_arguments, settings_from_args

# Each passed the character estimate (16 characters and 80 bits or more):
# words, dates, l33t and keyboard walks look random to it.
MADE_BY_PEOPLE = ["fastvideo-ui-token-2024", "P@ssw0rd!Welcome1", "Summer2024!Autumn", "Administrator2024!!",
                  "correcthorsebatterystaple", "a1a2a3a4a5a6a7a8a9a0b1", "1qaz2wsx3edc4rfv5tgb"]


def refusal(token: str) -> str:
    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    with pytest.raises(SystemExit) as refused:
        settings_from_args(parser.parse_args([f"--api-token={token}"]))
    return str(refused.value)


@pytest.mark.parametrize("token", MADE_BY_PEOPLE)
def test_a_token_made_of_words_dates_or_keyboard_walks_is_refused_with_the_rule(token: str) -> None:
    message = refusal(token)
    assert message.startswith("the API token is too weak (zxcvbn estimates that about 10^"), message
    assert TOKEN_RULE in message and "secrets.token_urlsafe(32)" in message
    assert "keyboard walks" in TOKEN_RULE and f"10^{MIN_GUESSES_LOG10} guesses" in TOKEN_RULE


def test_a_token_past_zxcvbns_length_cap_is_judged_by_its_start() -> None:
    assert weakness(secrets.token_urlsafe(300)) is None  # zxcvbn itself raises past 72 characters
    assert weakness("1qaz2wsx3edc4rfv5tgb" + secrets.token_urlsafe(300)[:80]) is None  # 60 random of 72
    assert weakness("1qaz2wsx3edc4rfv5tgb" * 4 + secrets.token_urlsafe(300)) is not None  # the start is a walk


@pytest.mark.slow
@pytest.mark.timeout(900)  # about 115 s of zxcvbn alone; beside a full suite on two cores it passed 300 s
def test_twenty_thousand_random_tokens_pass() -> None:
    """The suggested command's tokens, and hex ones (random hex holds the odd
    word or date, which cost it a few powers of ten): none may be refused."""
    worst = min(guesses_log10(token)[0] for token in (
        *(secrets.token_urlsafe(32) for _ in range(10_000)), *(secrets.token_hex(16) for _ in range(10_000))))
    assert worst >= MIN_GUESSES_LOG10 + 1, worst  # a margin: the worst seen so far is 10^26.9
    for token in (secrets.token_urlsafe(32), secrets.token_hex(16)):
        assert weakness(token) is None
