"""How much guessing a token or secret withstands, estimated two ways, each
simple enough to state in the message that refuses one.

First, characters: each is worth log2 of the smallest usual alphabet that
holds every character of the token (digits, hex, lower case, ..., printable
ASCII), and nothing when it repeats the character before it, continues a run
(`abc`, `321`) or repeats an earlier stretch of three or more. A random token
scores about its true entropy; `aaaaaaaaaaaaaaaa`, `1234567890123456` and
`passwordpassword` score 4, 10 and 33 bits.

Then, what a person makes: zxcvbn (Dropbox's estimator) counts the guesses a
cracker needs that tries common passwords, dictionary words, names, dates,
keyboard walks (`1qaz2wsx`) and l33t spellings (`P@ssw0rd`) first. Words make
a token look random to the first estimate: `fastvideo-ui-token-2024` scores
138 bits there, and 10^19 guesses here. Both must pass.
"""

from __future__ import annotations

import math
import string

MIN_CHARS = 16
MIN_BITS = 80
# 10^24 guesses is about 2^80, as MIN_BITS. The weak tokens found so far
# estimate at 10^7 to 10^19.3; the worst of 20,000 token_hex(16) at 10^26.9,
# of token_urlsafe(32) at 10^41 (random hex holds the odd word or date).
MIN_GUESSES_LOG10 = 24
# zxcvbn's own cap (its time grows with the square of the length); a token's
# first 72 characters are what it judges.
ZXCVBN_CHARS = 72
TOKEN_RULE = (f"at least {MIN_CHARS} characters and about {MIN_BITS} bits of randomness "
              f"(repeats, runs like 1234 or abcd, repeated stretches and a small alphabet count for little), "
              f"and no words, names, dates or keyboard walks a cracker tries first "
              f"(zxcvbn must estimate 10^{MIN_GUESSES_LOG10} guesses)")

_LOWER, _UPPER, _DIGITS = string.ascii_lowercase, string.ascii_uppercase, string.digits
# Smallest first; a token with a character outside all of them (beyond ASCII)
# is scored as printable ASCII, which can only understate it.
ALPHABETS = sorted((frozenset(chars) for chars in (
    _DIGITS, _DIGITS + "abcdef", _DIGITS + "ABCDEF", _LOWER, _UPPER, _LOWER + _DIGITS, _UPPER + _DIGITS,
    _LOWER + _UPPER, _LOWER + _UPPER + _DIGITS, _LOWER + _UPPER + _DIGITS + "-_", _LOWER + _UPPER + _DIGITS + "+/",
    string.printable.strip(),
)), key=len)
# A token is pasted into a form that takes 1,000 characters; scoring more
# would only cost time (the repeat search is quadratic).
SCORED_CHARS = 1000


def alphabet_size(token: str) -> int:
    used = set(token)
    return next((len(alphabet) for alphabet in ALPHABETS if used <= alphabet), len(ALPHABETS[-1]))


def _repeat_length(token: str, at: int) -> int:
    """How many characters from `at` on copy a stretch that ended before it."""
    length = 0
    while at + length < len(token) and token[at:at + length + 1] in token[:at]:
        length += 1
    return length


def estimated_bits(token: str) -> float:
    token = token[:SCORED_CHARS]
    counted = 0
    at = 0
    while at < len(token):
        repeat = _repeat_length(token, at)
        if repeat >= 3:
            at += repeat
            continue
        step = ord(token[at]) - ord(token[at - 1]) if at >= 1 else None
        previous_step = ord(token[at - 1]) - ord(token[at - 2]) if at >= 2 else None
        if step != 0 and not (step in (1, -1) and step == previous_step):
            counted += 1
        at += 1
    return counted * math.log2(alphabet_size(token)) if token else 0.0


def guesses_log10(token: str) -> tuple[float, str]:
    """zxcvbn's estimate of the guesses this token withstands, as a power of
    ten, and its warning (what it found), if any. Imported here: only a token
    being checked, once at start, needs it."""
    from zxcvbn import zxcvbn

    found = zxcvbn(token[:ZXCVBN_CHARS])
    return float(found["guesses_log10"]), str(found["feedback"].get("warning") or "")


def weakness(token: str) -> str | None:
    """Why this token is too weak to guard the server, or None."""
    if len(token) < MIN_CHARS:
        return f"it has {len(token)} characters"
    bits = estimated_bits(token)
    if bits < MIN_BITS:
        return f"it scores about {bits:.0f} bits"
    guesses, warning = guesses_log10(token)
    if guesses < MIN_GUESSES_LOG10:
        said = f": {warning.rstrip('.')}" if warning else ""
        return f"zxcvbn estimates that about 10^{guesses:.0f} guesses find it{said}"
    return None
