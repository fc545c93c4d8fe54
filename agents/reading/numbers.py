"""Numbers as people write them: words, shorthand and digits with separators.

Words ("thirty", "twelve hundred", "half a million"), shorthand ("1.5k", "3 grand",
"2 million") and separators ("1,200").

``digits_for_words`` rewrites number words as digits so that the quantity patterns only ever
see digits; ``amount`` reads one number with its optional k/m/b suffix.
"""

from __future__ import annotations

import re

UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
SUFFIXES = {"k": 1_000, "m": 1_000_000, "mn": 1_000_000, "b": 1_000_000_000, "bn": 1_000_000_000}

NUMBER = r"(\d+(?:,\d{3})*(?:\.\d+)?)"
"""A number in digits, thousands separated by commas or not, with an optional decimal part."""

_WORD = "|".join([*UNITS, *TENS, *SCALES, "dozen"])
# A run of number words: "two hundred and fifty", "sixty-four", "a dozen", "half a million".
_WORD_RUN = re.compile(
    rf"\b(?:(half)\s+(?:an?\s+)?)?(?:(an?)\s+(?=(?:{'|'.join(SCALES)}|dozen)\b))?"
    rf"((?:{_WORD})(?:(?:\s+and\s+|\s+|-)(?:{_WORD}))*)\b",
    re.IGNORECASE,
)
# "one" is a pronoun as often as a number: "the 70B one", "which one", "one of them".
_PRONOUN_ONE = re.compile(
    r"\b(the|this|that|which|each|any|every|no|another)\s+(?:[\w.-]+\s+)?$",
    re.IGNORECASE,
)
_DIGIT_SCALE = re.compile(rf"{NUMBER}\s*(million|billion|thousand|hundred)\b", re.IGNORECASE)
_GRAND = re.compile(rf"(\$\s*)?{NUMBER}\s*(k\s*)?grand\b", re.IGNORECASE)


def _word_value(words: str) -> int:
    total = current = 0
    for word in re.split(r"\s+and\s+|\s+|-", words.lower()):
        if word in UNITS:
            current += UNITS[word]
        elif word in TENS:
            current += TENS[word]
        elif word == "dozen":
            current = (current or 1) * 12
        elif word == "hundred":
            current = (current or 1) * 100
        elif word in SCALES:
            total += (current or 1) * SCALES[word]
            current = 0
    return total + current


def _format(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def digits_for_words(text: str) -> str:
    """Rewrite number words and spelled-out scales as digits ("thirty" → "30")."""

    def words(match: re.Match[str]) -> str:
        run = match[3]
        if run.lower() == "one" and _PRONOUN_ONE.search(text[: match.start()]):
            return match[0]
        value: float = _word_value(run)
        if match[1]:
            value /= 2
        return _format(value)

    text = _DIGIT_SCALE.sub(lambda m: _format(to_number(m[1]) * SCALES[m[2].lower()]), text)
    text = _WORD_RUN.sub(words, text)
    # "three grand" is three thousand dollars.
    return _GRAND.sub(lambda m: "$" + _format(to_number(m[2]) * 1_000), text)


def to_number(raw: str) -> float:
    """Read digits with thousands separators ("1,200" → 1200.0)."""
    return float(raw.replace(",", ""))


def amount(raw: str, suffix: str | None = None) -> float:
    """Read a number with an optional k/m/b suffix ("1.5", "k" → 1500.0)."""
    return to_number(raw) * SUFFIXES.get((suffix or "").strip().lower(), 1)
