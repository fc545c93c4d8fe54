"""Where the user wants to run: cloud providers (catalogued or not), regions and places.

Providers are added, replaced or dropped ("on second thought, Azure", "also GCP", "let's
drop GCP"); the merge across turns applies the ``providers_mode`` this module reports.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from agents.reading.words import LAMBDA_LABS_EXPLICIT, PROVIDER_WORDS, UNKNOWN_PROVIDERS
from tools.regions import AREAS, COUNTRIES, place_names

Found = dict[str, tuple[Any, int]]

_REGION = re.compile(r"\b[a-z]{2,}(?:-[a-z]+)+-?\d+\b|\b(?:east|west|north|south)[a-z]*\d?\b")
_ALSO = re.compile(r"\b(also|as well|too|in addition|additionally|add|plus)\b")
_DROP = r"(?:drop|remove|exclude|not|no|without|skip|forget(?: about)?|rule out|except)"
_RESIDENCY = re.compile(
    r"\bdata\b[^.;]{0,60}?\b(?:stays?|remains?|resides?|kept|keep|lives?|must be|has to be|"
    r"needs to be|should be|can'?t leave|cannot leave|may not leave)\b|\bdata residency\b|"
    r"\bgdpr\b|\bsovereign"
)


def _word(word: str) -> str:
    return rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9-])"


def _provider_hits(lowered: str) -> list[tuple[int, str]]:
    hits = []
    aws_named = re.search(_word("aws") + "|" + _word("amazon"), lowered) is not None
    for provider, words in PROVIDER_WORDS.items():
        for word in words:
            for m in re.finditer(_word(word), lowered):
                if provider == "lambda" and word == "lambda" and aws_named:
                    explicit = any(w in lowered for w in LAMBDA_LABS_EXPLICIT)
                    if not explicit:
                        continue
                hits.append((m.start(), provider))
    return sorted(hits)


def read_places(text: str, known_regions: frozenset[str]) -> Found:
    """Read providers (with how they change the earlier list), unknown providers, regions."""
    lowered = text.lower()
    found: Found = {}
    dropped: list[str] = []
    named: list[str] = []
    for start, provider in _provider_hits(lowered):
        if re.search(rf"{_DROP}\s+(?:the\s+)?(?:[a-z]+\s+)?$", lowered[:start]) or re.match(
            r"[a-z. ]*?\s+is\s+out\b", lowered[start:]
        ):
            dropped.append(provider)
        else:
            named.append(provider)
    named = [p for p in dict.fromkeys(named) if p not in dropped]
    if named:
        found["providers"] = (named, 0)
        if _ALSO.search(lowered):
            found["providers_mode"] = ("add", 0)
    if dropped:
        found["providers_dropped"] = (list(dict.fromkeys(dropped)), 0)
    unknown = [key for key in UNKNOWN_PROVIDERS if re.search(_word(key), lowered)]
    if unknown:
        shown = list(dict.fromkeys(UNKNOWN_PROVIDERS[k].lower() for k in unknown))
        found["unknown_providers"] = (shown, 0)
    regions = [r for r in _REGION.findall(lowered) if r in known_regions]
    if regions:
        found["regions"] = (list(dict.fromkeys(regions)), 0)
    # "Our customers are in Ireland, so eu-west-1": a region named outright is the answer.
    places = [] if regions else _places(lowered)
    if places:
        found["places"] = (places, 0)
        if _RESIDENCY.search(lowered):
            found["data_residency"] = (place_names()[places[0]], 0)
    return found


def _places(lowered: str) -> list[str]:
    """Return the places named: cities anywhere, countries and areas only as places.

    A country or area counts after "in" or before "only": "German users" or "US team" name
    people, not where to run.
    """
    out: list[str] = []
    for name, pattern in _place_patterns():
        if pattern.search(lowered) and not any(name in longer for longer in out):
            out.append(name)
    return out


@cache
def _place_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Compile each place's pattern once, longest names first."""
    patterns = []
    for name in sorted(place_names(), key=len, reverse=True):
        if name in COUNTRIES or name in AREAS:
            pattern = (
                rf"\b(?:in|within|inside|to|stay in|from)\s+{re.escape(name)}(?![a-z0-9-])|"
                + (rf"(?<![a-z0-9-]){re.escape(name)}\s+only\b")
            )
        else:
            pattern = _word(name)
        patterns.append((name, re.compile(pattern)))
    return tuple(patterns)
