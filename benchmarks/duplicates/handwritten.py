"""The hand-written title comparison the duplicate finder used until rapidfuzz replaced it (a frozen
copy of crisis/issues/service.py's `_similar_titles` at d890c12), kept as compare.py's peer.

Two upper bounds of difflib's ratio skip most candidates before difflib runs: the characters in
common (difflib's quick_ratio, as bit masks by level, packed into one integer when they fit) and
the longest common subsequence (bit-parallel, Hyyrö 2004).
"""

from __future__ import annotations

import difflib
import functools
import threading
from collections import Counter
from fractions import Fraction
from typing import Any

from crisis.issues.duplicates import TITLE_SIMILARITY, normalise_title

_THRESHOLD = Fraction(str(TITLE_SIMILARITY))  # 4/5, for exact comparisons

# One bit per character seen in a title, numbered in order of first sight (so an emoji costs one
# bit, not one at its code point); the lock keeps two threads from giving two characters one bit.
_CHAR_BITS: dict[str, int] = {}
_CHAR_BITS_LOCK = threading.Lock()


def _char_bit(char: str) -> int:
    bit = _CHAR_BITS.get(char)
    if bit is None:
        with _CHAR_BITS_LOCK:
            bit = _CHAR_BITS.setdefault(char, 1 << len(_CHAR_BITS))
    return bit


# Levels packed into one integer, LEVEL_WIDTH bits per level, for titles whose characters all have
# bits below it: the characters two titles have in common are then one AND and one bit count.
LEVEL_WIDTH = 256


@functools.lru_cache(maxsize=8192)
def _title_letters(title: str) -> tuple[str, tuple[int, ...], int | None]:
    """A title normalised, and how often each character occurs in it as bit masks by level: the
    character's bit (_char_bit) is set in the k-th mask when it occurs at least k times. The
    characters two titles have in common (difflib's quick_ratio) are then the set bits of the masks
    ANDed level by level. Third: the levels packed side by side (None when a character's bit does
    not fit in LEVEL_WIDTH), for the same count in one operation."""
    text = normalise_title(title)
    levels: list[int] = []
    for char, count in Counter(text).items():
        bit = _char_bit(char)
        for level in range(count):
            if level == len(levels):
                levels.append(0)
            levels[level] |= bit
    packed: int | None = 0
    for index, level in enumerate(levels):
        if level >> LEVEL_WIDTH:
            packed = None
            break
        packed |= level << (index * LEVEL_WIDTH)
    return text, tuple(levels), packed


def _positions(text: str) -> dict[str, int]:
    """For each character of text, the bit mask of where it occurs (for _common_subsequence)."""
    masks: dict[str, int] = {}
    for position, char in enumerate(text):
        masks[char] = masks.get(char, 0) | (1 << position)
    return masks


def _common_subsequence(positions: dict[str, int], length: int, other: str) -> int:
    """Length of the longest common subsequence of a text (its _positions and length) and other
    (bit-parallel, Hyyrö 2004). difflib's matching blocks are a common subsequence, so
    2 * this / (len(a) + len(b)) bounds its ratio."""
    full = (1 << length) - 1
    row = full
    for char in other:
        matched = row & positions.get(char, 0)
        row = ((row + matched) | (row - matched)) & full
    return length - row.bit_count()


def _similar_titles(title: str, candidates: list[Any]) -> list[tuple[float, int]]:
    """(ratio, id) of the (id, title) candidates at least TITLE_SIMILARITY alike, by title_similarity's
    ratio. It is computed only where two upper bounds of it reach the threshold: the characters in
    common (difflib's quick_ratio, which also bounds by the lengths) and the longest common
    subsequence. Random titles from one vocabulary pass the first often and the second rarely.

    The bounds are compared in integers, 2 * common / total >= num / den as 2 * den * common >=
    num * total, so no rounding lets a candidate through or keeps one out."""
    wanted, wanted_levels, wanted_packed = _title_letters(title)
    size = len(wanted)
    num, den = _THRESHOLD.numerator, _THRESHOLD.denominator
    twice = 2 * den
    positions: dict[str, int] | None = None  # built for the first candidate that needs it
    letters = _title_letters
    scored = []
    for issue_id, other_title in candidates:
        other, other_levels, other_packed = letters(other_title)
        total = size + len(other)
        if wanted_packed is not None and other_packed is not None:
            common = (wanted_packed & other_packed).bit_count()
        else:
            # zip stops at the fewer levels: a character is common k times only if both have it k times.
            common = sum((mine & theirs).bit_count() for mine, theirs in zip(wanted_levels, other_levels, strict=False))
        if twice * common < num * total:
            continue
        if positions is None:
            positions = _positions(wanted)
        if twice * _common_subsequence(positions, size, other) < num * total:
            continue
        ratio = difflib.SequenceMatcher(None, wanted, other).ratio()
        if ratio >= TITLE_SIMILARITY:
            scored.append((ratio, issue_id))
    return scored
