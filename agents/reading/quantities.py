"""Quantities with their units: load, tokens, latency, budget, training data.

The text has its number words already rewritten as digits (``numbers.digits_for_words``) and
is lower case. Each reader returns ``{dotted field: (value, position)}``: the position is
where the value was stated, so that a later bare number ("make it 25") can correct the field
stated last. Within a message the last statement of a field wins ("50 users... make it 80").
"""

from __future__ import annotations

import math
import re
from typing import Any

from agents.reading.numbers import NUMBER, amount, to_number

Found = dict[str, tuple[Any, int]]

# A number with an optional k/m/b suffix ("1.5k", "60b", "300k").
NUM = rf"{NUMBER}\s?(k|mn|m|bn|b|t)?(?![a-z0-9])"
_ABOUT = r"(?:~\s*|about\s+|around\s+|roughly\s+|approximately\s+|approx\.?\s+|some\s+|up to\s+)?"
_PER = r"\s*(?:per|a|an|each|every|/)\s*"
_DAY_FACTORS = {
    "second": 86_400,
    "sec": 86_400,
    "s": 86_400,
    "minute": 1_440,
    "min": 1_440,
    "hour": 24,
    "hr": 24,
    "day": 1,
    "night": 1,
    "week": 1 / 7,
    "month": 1 / 30,
}
_MONTH_FACTORS = {"day": 30, "night": 30, "week": 52 / 12, "month": 1, "year": 1 / 12}
_NOT_A_RATE = r"(?!\s*(?:per|a|an|each|/)\s*(?:second|sec|s|minute|min|hour|day|week|month)\b)"

USER_NOUNS = (
    r"users|people|persons|staff(?:ers)?|employees|engineers|developers|devs|analysts|agents|"
    r"seats|sessions|chats|customers|students|members|colleagues|researchers|clients|lawyers|"
    r"doctors|nurses|teachers|testers|operators|reps|representatives|traders|writers|editors"
)
_USERS = re.compile(
    rf"{NUM}\s+(?:(concurrent|simultaneous|parallel|active|daily|monthly|weekly|total|"
    rf"registered|internal|named)\s+)?(?:[a-z]+\s+)?(?:{USER_NOUNS})\b",
)
_AT_ONCE = re.compile(
    rf"{NUM}\s+(?:({USER_NOUNS})\s+)?(?:at a time|at once|at the same time|at peak|"
    rf"concurrently|simultaneously|in parallel)\b|peak of\s+{NUM}"
)
_TEAM = re.compile(rf"team of\s+{NUM}|{NUM}[- ](?:person|people|member|strong)\b")
_SEQUENCES = re.compile(
    rf"{NUM}\s+(?:(?:concurrent|parallel|simultaneous)\s+)?(?:sequences|requests at (?:a time|"
    rf"once)|requests in flight|parallel requests|concurrent requests)\b|batch size (?:of )?{NUM}"
)
_STREAMS = re.compile(
    rf"{NUM}\s+(?:(?:live|concurrent|simultaneous|parallel)\s+)?(?:[a-z]+\s+)?"
    rf"(?:streams|meetings|calls|channels|cameras|camera feeds|video feeds|feeds)\b{_NOT_A_RATE}"
)
_RPS = re.compile(
    rf"{NUM}\s*(?:rps|qps|req/s|requests?/s(?:ec)?|(?:[a-z]+\s+)?(?:requests|queries|calls|"
    rf"inferences|predictions|classifications|transactions){_PER}(second|sec|s|minute|min)\b)"
)
_IMAGES = re.compile(
    rf"{NUM}\s+(?:[a-z]+\s+)?(?:images?|frames|pictures|photos){_PER}(second|sec|s|minute|min|"
    rf"hour)\b"
)
DOC_NOUNS = (
    r"documents|docs|pdfs|tickets|e-?mails|files|pages|articles|descriptions|records|reviews|"
    r"contracts|chunks|passages|texts|messages|transcripts|papers|reports|invoices|products|"
    r"listings|posts|comments|resumes|cvs|notes|faqs|forms|letters|receipts|claims"
)
_DOCS = re.compile(
    rf"{NUM}\s+(?:[a-z-]+\s+){{0,2}}?(?:{DOC_NOUNS})\b(?:{_PER}(day|night|week|month|hour)\b)?"
)
# The count after the things counted: "the day's support chats (about 60k of them)".
_DOCS_AFTER = re.compile(
    rf"\b(?:{DOC_NOUNS}|chats|conversations)\s*[(,-]?\s*{_ABOUT}{NUM}\s+of them\b"
)
_DAILY = re.compile(r"\b(daily|nightly|every (?:day|night)|each (?:day|night)|per day)\b")
# A batch's deadline: "within 6 hours", "done in under 4 h", "a 5-hour window", "we have 3
# hours"; "overnight",
# "by morning" or "before the workday starts" give the night, taken as 8 hours.
_WINDOW = (
    re.compile(
        rf"\b(?:within|in(?: under| less than)?|under|done in|finish(?:ed|es)? in)\s+{NUMBER}\s*"
        r"(?:hours?|hrs?|h)\b"
    ),
    re.compile(rf"\b{NUMBER}[- ]?(?:hours?|hrs?|h)[- ]window\b"),
    re.compile(rf"\b(?:have|got|get)\s+(?:only\s+|just\s+)?{NUMBER}\s*(?:hours?|hrs?)\b"),
)
_OVERNIGHT = re.compile(
    r"\bovernight\b|\b(?:by|before) (?:the )?(?:next )?morning\b|"
    r"\b(?:by|before) (?:[5-9]|0[5-9])(?::00)? ?am\b|"
    r"\b(?:by|before) (?:the )?(?:start of (?:the )?)?(?:business|work(?:ing)?) ?day(?: starts)?\b"
)
OVERNIGHT_HOURS = 8.0
_TOKENS_RATE = re.compile(
    rf"{NUM}\s+tokens?{_PER}(day|hour|month|week|minute|min)\b"
)
_AUDIO = re.compile(
    rf"{NUM}\s+(?:hours|hrs|h)\s+of\s+(?:[a-z-]+\s+){{1,3}}?"
    rf"(?:(?:per|a|an|each|every|/)\s*(month|week|day|year))\b"
)
_INPUT = (
    re.compile(rf"{NUM}\s+(?:input|prompt)\s+tokens"),
    re.compile(rf"(?:prompts?|inputs?)\s+(?:are\s+|of\s+)?{_ABOUT}{NUM}\s+tokens"),
    re.compile(rf"{NUM}\s+tokens?\s+in\b"),
    re.compile(rf"{NUM}[- ]token\s+(?:prompts|inputs)"),
)
_OUTPUT = (
    re.compile(rf"{NUM}\s+(?:output|completion|generated)\s+tokens"),
    re.compile(
        rf"(?:responses?|answers?|outputs?|completions?|summaries)\s+(?:are\s+|of\s+)?"
        rf"{_ABOUT}{NUM}\s+tokens"
    ),
    re.compile(rf"{NUM}\s+(?:tokens\s+)?out\b"),
    re.compile(rf"{NUM}\s+tokens\s*(?:per|/|each)\s*(?:request|response|answer|reply)"),
)
_CONTEXT = re.compile(
    rf"{NUMBER}\s*(k)?\s*(?:tokens?\s+)?(?:of\s+)?context|context(?:\s+"
    rf"(?:length|window|of))?\s*(?:of\s*)?{NUMBER}\s*(k)?"
)
_TIME = r"(ms|milliseconds?|msec|s|secs?|seconds?)\b"
_TTFT = (
    # "first token under 500 ms", "the first token should arrive within 0.5 s"
    re.compile(
        rf"(?:first token|ttft|time[ -]to[ -]first[ -]token)\b(?:\s+(?:[a-z]+|<=?)){{0,4}}?"
        rf"\s*<?=?\s*{NUMBER}\s*{_TIME}"
    ),
    re.compile(rf"{NUMBER}\s*{_TIME}\s+(?:of\s+)?(?:latency|to first token|ttft)"),
    re.compile(
        rf"latency\s+(?:of\s+|under\s+|below\s+|<\s*=?\s*|less than\s+|at most\s+|within\s+)+"
        rf"{NUMBER}\s*{_TIME}"
    ),
)
_TPOT = (
    re.compile(rf"{NUMBER}\s*(?:ms|milliseconds?)\s*(?:per|a|/)\s*(?:output\s+)?token"),
    re.compile(
        rf"(?:tpot|time per output token|inter[- ]token latency|itl)\s*(?:of\s+|under\s+|below\s+|"
        rf"<\s*=?\s*|at most\s+)*{NUMBER}\s*(?:ms|milliseconds?)"
    ),
)
_RATE_PER_USER = re.compile(
    rf"{NUMBER}\s*(?:tokens|tok)\s*(?:/|per|a)\s*s(?:ec(?:ond)?)?\s*(?:per|for each|each|/|a)\s*"
    rf"(?:user|stream|session|request)"
)
_REALTIME = re.compile(
    r"\breal[ -]?time\b|\blive\s+(?:captions?|captioning|transcription|subtitles|streams?|calls?|"
    r"audio|video|meetings?|translation|feeds?)\b"
)
_BUDGET = re.compile(
    rf"(?:\$\s*{NUMBER}\s*(k|thousand|m)?|{NUMBER}\s*(k|thousand)?\s*(?:usd|dollars|\$))"
    r"(\s*(?:/|per|a)\s*(?:hour|hr|h\b|month|mo\b|year|yr))?"
)
_BARE_MONTHLY = re.compile(
    rf"(?:(budget|under|below|max(?:imum)?|up to|at most|keep it under|stretch to|cap(?:ped)? at|"
    rf"spend|no more than)\s+(?:of\s+|is\s+)?)?{NUMBER}\s*(k)?\s*(?:/|per|a)\s*(?:month|mo)\b"
)
_BUDGET_CUE = re.compile(
    r"\b(budget|spend|afford|under|below|at most|up to|max(imum)?|no more than|cap|limit|"
    r"cost(s|ing)?|stretch)\b"
)
_PARAMS = re.compile(
    r"\b(\d+(?:\.\d+)?)\s*b(?:illion)?\b(?!\s*-?\s*tokens?)(?:\s*param(?:eter)?s?)?"
)
_DATASET_TOKENS = re.compile(
    rf"\b(?:on|over|with|of)\s+{_ABOUT}{NUM}\s+tokens\b"
    r"(?!\s*(?:per|a|an|each|/)\s*(?:day|hour|month|week|second|request|response))"
    rf"|{NUM}[- ]tokens?\s+(?:dataset|corpus)"
)
# In a training chat a token count with no rate or request around it is the data: "a 7B base
# model, 200 billion tokens".
_TRAINING_TOKENS = re.compile(
    rf"{NUM}\s+tokens\b(?!\s*(?:per|a|an|each|/|in\b|out\b|of context|context)"
    rf"|\s*(?:of\s+)?(?:context|prompt|input|output))"
)
# "20k support chats", "100k instruction/response pairs", "8k rows of q&a": in a training chat
# a count of these is the dataset, never users or a corpus to serve.
_EXAMPLES = re.compile(
    rf"{NUM}\s+(?:[a-z/&'-]+\s+){{0,2}}?(?:examples|samples|conversations|dialogues|dialogs|"
    rf"pairs|rows|instructions|records|images|documents|docs|transcripts|tickets|chats|emails|"
    rf"threads|prompts|completions|q&as|questions)\b"
)
# "50GB of legal documents", "~2 GB of domain text", "a 3 TB corpus": the raw text's size.
_DATASET_GB = re.compile(
    rf"{NUMBER}\s*(mb|gb|gib|tb)\s+(?:of\s+(?!(?:vram|gpu|hbm|ram|memory|ssd|disk|storage)\b)"
    rf"|(?:[a-z-]+\s+)?(?:dataset|corpus|data\b))"
)
_GB_PER_UNIT = {"mb": 1e-3, "gb": 1.0, "gib": 2**30 / 1e9, "tb": 1e3}
_EPOCHS = re.compile(rf"{NUMBER}\s+epochs?\b|epochs?\s*(?:=|:|of)?\s*{NUMBER}\b")
_VRAM = re.compile(rf"{NUMBER}\s*(?:gb|gib)\b(?:\s*(?:of\s*)?(?:vram|gpu memory|gpu))?")
_NEGATED = re.compile(r"\bnot\s+(?:the\s+|a\s+|an\s+)?$")
# A size glued to a model's name ("mistral 7b", "mixtral 8x7b", "a 1.5B") is how big the model
# is, never a count of documents or users; it counts something only when the thing counted
# follows at once ("60B tokens", "2b rows").
_COUNTED = (
    rf"tokens?|param(?:eter)?s?|words|rows|examples|samples|pairs|records|images|requests|"
    rf"queries|{DOC_NOUNS}"
)
_GLUED_SIZE = re.compile(
    rf"(?<![\w.$,])(?:\d+x)?\d+(?:\.\d+)?(?:b|bn)(?![a-z0-9])(?!\s*-?\s*(?:{_COUNTED})\b)"
)


def without_model_sizes(text: str) -> str:
    """Blank out model sizes glued to names ("7b"), keeping every other position in place."""
    return _GLUED_SIZE.sub(lambda m: " " * len(m[0]), text)


def _stated(pattern: re.Pattern[str], text: str) -> list[re.Match[str]]:
    # "80 GB, not the 40 GB one": a value right after "not" is the one being replaced.
    return [m for m in pattern.finditer(text) if not _NEGATED.search(text[: m.start()])]


def _last(
    patterns: tuple[re.Pattern[str], ...] | re.Pattern[str], text: str
) -> re.Match[str] | None:
    group = patterns if isinstance(patterns, tuple) else (patterns,)
    matches = [m for p in group for m in _stated(p, text)]
    return max(matches, key=lambda m: m.start()) if matches else None


def _time_ms(value: str, unit: str) -> float:
    return to_number(value) * (1 if unit.startswith("m") else 1000)


def read_load(text: str) -> Found:
    """Read concurrency, request and item rates, corpus sizes and token volumes."""
    m: re.Match[str] | None
    found: Found = {}
    users = [m for m in _stated(_USERS, text) if m[3] not in ("daily", "monthly", "weekly",
                                                              "total", "registered", "named")]
    at_once = _stated(_AT_ONCE, text)
    team = _stated(_TEAM, text)
    candidates = [(m.start(), amount(m[1], m[2])) for m in users]
    candidates += [
        (m.start(), amount(m[1], m[2]) if m[1] else amount(m[4], m[5]))
        for m in at_once
        if not re.search(r"requests|sequences|streams|meetings|calls", m[0])
    ]
    candidates += [(m.start(), amount(m[1], m[2]) if m[1] else amount(m[3], m[4])) for m in team]
    peak = [m for m in at_once if "peak" in m[0]]
    if peak:
        m = peak[-1]
        found["scale.concurrent_users"] = (int(amount(m[1], m[2]) if m[1] else amount(m[4], m[5])),
                                           m.start())
    elif candidates:
        start, value = max(candidates)
        found["scale.concurrent_users"] = (int(value), start)
    if m := _last(_SEQUENCES, text):
        value = amount(m[1], m[2]) if m[1] else amount(m[3], m[4])
        found["scale.concurrent_sequences"] = (int(value), m.start())
    if m := _last(_STREAMS, text):
        found["scale.concurrent_streams"] = (int(amount(m[1], m[2])), m.start())
    if m := _last(_RPS, text):
        per_minute = (m[3] or "").startswith("m")
        found["scale.requests_per_second"] = (
            round(amount(m[1], m[2]) / (60 if per_minute else 1), 4),
            m.start(),
        )
    if m := _last(_IMAGES, text):
        divisor = {"m": 60, "h": 3600}.get(m[3][0], 1)
        found["scale.images_per_second"] = (round(amount(m[1], m[2]) / divisor, 4), m.start())
    if (m := _last(_DOCS, text)) or (m := _last(_DOCS_AFTER, text)):
        value = amount(m[1], m[2])
        period = m[3] if m.re is _DOCS else None
        if period is None and _DAILY.search(text):
            period = "day"
        if period:
            per_day = value * _DAY_FACTORS[period]
            found["scale.documents_per_day"] = (int(round(per_day)), m.start())
        else:
            found["scale.documents"] = (int(value), m.start())
    windows = [m for pattern in _WINDOW for m in pattern.finditer(text)]
    if windows:
        m = max(windows, key=lambda w: w.start())
        hours = to_number(m[1])
        if 0 < hours <= 24:
            found["scale.batch_window_hours"] = (hours, m.start())
    elif m := _last(_OVERNIGHT, text):
        found["scale.batch_window_hours"] = (OVERNIGHT_HOURS, m.start())
    if m := _last(_TOKENS_RATE, text):
        found["scale.tokens_per_day"] = (amount(m[1], m[2]) * _DAY_FACTORS[m[3]], m.start())
    if m := _last(_AUDIO, text):
        found["scale.audio_hours_per_month"] = (
            round(amount(m[1], m[2]) * _MONTH_FACTORS[m[3]], 2),
            m.start(),
        )
    return found


def read_tokens(text: str) -> Found:
    """Read input and output tokens per request and the context length."""
    m: re.Match[str] | None
    found: Found = {}
    if m := _last(_INPUT, text):
        found["scale.input_tokens_per_request"] = (int(amount(m[1], m[2])), m.start())
    if m := _last(_OUTPUT, text):
        found["scale.tokens_per_request"] = (int(amount(m[1], m[2])), m.start())
    if m := _last(_CONTEXT, text):
        raw, kilo = (m[1], m[2]) if m[1] else (m[3], m[4])
        # "8k context" is a power-of-two window; "8000 tokens of context" is what it says.
        found["scale.context_length"] = (int(to_number(raw) * (1024 if kilo else 1)), m.start())
    return found


def read_latency(text: str) -> Found:
    """Read time-to-first-token and per-token targets, and whether results must be live."""
    m: re.Match[str] | None
    found: Found = {}
    if m := _last(_TTFT, text):
        found["latency.ttft_ms"] = (_time_ms(m[1], m[2]), m.start())
    if m := _last(_TPOT, text):
        found["latency.tpot_ms"] = (to_number(m[1]), m.start())
    elif m := _last(_RATE_PER_USER, text):
        found["latency.tpot_ms"] = (round(1000 / to_number(m[1]), 3), m.start())
    if m := _REALTIME.search(text):
        found["latency.realtime"] = (True, m.start())
    return found


def read_budget(text: str) -> Found:
    """Read a monthly budget in US dollars (hourly and yearly amounts converted)."""
    found: Found = {}
    has_cue = bool(_BUDGET_CUE.search(text))
    for m in _stated(_BUDGET, text):
        value = to_number(m[1] or m[3])
        scale = (m[2] or m[4] or "").lower()
        value *= 1000 if scale in ("k", "thousand") else 1_000_000 if scale == "m" else 1
        period = (m[5] or "").lower()
        # A price quoted in passing ("the T4 is $0.53/hour") is not a budget: without words
        # about spending, an hourly or small bare amount is skipped.
        hourly = "h" in period and "month" not in period
        if not has_cue and (hourly or (not period and value < 100)):
            continue
        if hourly:
            value *= 730  # a month of hours, the same convention as the price math
        elif "y" in period:
            value /= 12
        found["budget_monthly_usd"] = (round(value, 2), m.start())
    if "budget_monthly_usd" not in found:
        for m in _stated(_BARE_MONTHLY, text):
            if m[1] or m[3]:  # "1.5k a month" or "budget 1500 a month"
                value = to_number(m[2]) * (1000 if m[3] else 1)
                found["budget_monthly_usd"] = (round(value, 2), m.start())
    return found


def read_training_data(text: str, training: bool) -> Found:
    """Read dataset tokens, examples, size in GB and epochs (examples and GB when training)."""
    m: re.Match[str] | None
    found: Found = {}
    if m := _last(_DATASET_TOKENS, text):
        value = amount(m[1], m[2]) if m[1] else amount(m[3], m[4])
        if training or value >= 1e8:
            found["training.dataset_tokens"] = (value, m.start())
    elif training and (m := _last(_TRAINING_TOKENS, text)):
        found["training.dataset_tokens"] = (amount(m[1], m[2]), m.start())
    gb = _last(_DATASET_GB, text) if training else None
    if gb:
        found["training.dataset_gb"] = (to_number(gb[1]) * _GB_PER_UNIT[gb[2]], gb.start())
    if training and (m := _last(_EXAMPLES, text)) and not (gb and gb.start() == m.start()):
        found["training.dataset_examples"] = (int(amount(m[1], m[2])), m.start())
    if m := _last(_EPOCHS, text):
        found["training.epochs"] = (to_number(m[1] or m[2]), m.start())
    return found


def read_sizes(text: str, named_model: bool) -> Found:
    """Read GPU memory asked for and, when no model is named, a model size in billions."""
    m: re.Match[str] | None
    found: Found = {}
    if m := _last(_VRAM, text):
        found["min_vram_gb"] = (to_number(m[1]), m.start())
    if not named_model and (m := _PARAMS.search(text)):
        found["model_needs.size_billion_params"] = (to_number(m[1]), m.start())
    return found


def little_law_concurrency(requests_per_second: float, seconds_per_request: float) -> int:
    """Return requests in flight at a rate and a duration (Little's law), at least 1."""
    return max(1, math.ceil(requests_per_second * seconds_per_request))
