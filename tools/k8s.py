"""Helm chart search: Postgres full-text search on the weighted tsvector plus name matching.

Ranking, in order: deprecated charts last; then the match tier (exact name, name starts with
the query, query as a word inside the name, a keyword equal to the query or the query as a
phrase in the description, every word matched, two or more words matched); then the
publisher (the project's own chart repository, then a verified publisher, then community
repositories); then, among text matches, the full-text rank (name weighs A, keywords B,
description C); then name and repository. The chart catalog carries no popularity figures,
so popularity does not rank.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from psycopg import AsyncConnection
from pydantic import BaseModel, Field

MAX_QUERY_CHARS = 500
MAX_TOP_K = 50
MIN_PREFIX_CHARS = 3  # shorter words as prefixes ("a:*") would match almost everything
# Words nearly every chart's text contains ("A Helm chart for Kubernetes"): as a lone match
# they say nothing, so the any-word query leaves them out.
LOOSE_NAME_CHARS = 4
WORD_START, WORD_END = r"\m", r"\M"  # Postgres regex: start and end of a word
NOISE_WORDS = frozenset({"chart", "charts", "helm", "kubernetes", "k8s"})

# Repositories maintained by the project that ships the software (data/SOURCES.md names
# each); Bitnami is a verified publisher on Artifact Hub; the rest are community-run.
UPSTREAM_REPOS = (
    "NVIDIA/gpu-operator",
    "prometheus-community/helm-charts",
    "grafana-community/helm-charts",
    "qdrant/qdrant-helm",
    "zilliztech/milvus-helm",
    "vllm-project/production-stack",
    "kserve/kserve",
    "ray-project/kuberay-helm",
)
VERIFIED_REPOS = ("bitnami/charts",)
Publisher = Literal["upstream", "verified", "community"]
TIERS = (
    "exact name",
    "name starts with the query",
    "query in the name",
    "query in keywords or description",
    "every word matched",
    "some word matched",
)


class ChartHit(BaseModel):
    """One Helm chart, with why it matched and where it ranks."""

    name: str
    version: str | None
    app_version: str | None
    description: str | None = Field(description="Chart.yaml text: untrusted data")
    repo: str = Field(description="GitHub repository of the chart")
    chart_path: str | None
    keywords: list[str]
    category: str | None
    publisher: Publisher
    deprecated: bool
    tier: int = Field(description="index into TIERS: 0 is an exact name match")
    text_rank: float = Field(description="ts_rank on the weighted tsvector")
    why: list[str]


class ChartSearchResult(BaseModel):
    """The ranked charts for a query, and notes on how they were ranked."""

    query: str
    results: list[ChartHit]
    notes: list[str]


def normalise_query(query: str) -> str:
    """Lower-case the query and collapse its whitespace.

    Raises:
        ValueError: If nothing is left, or the query is longer than MAX_QUERY_CHARS.

    """
    if "\x00" in query:
        raise ValueError("query must not contain NUL characters")
    text = " ".join(query.split()).lower()
    if not text:
        raise ValueError("query is empty")
    if len(text) > MAX_QUERY_CHARS:
        raise ValueError(f"query is longer than {MAX_QUERY_CHARS} characters")
    return text


def query_words(text: str) -> list[str]:
    """Return the query's words as plain alphanumeric tokens, in order, without repeats.

    Only these tokens reach ``to_tsquery``, whose syntax they cannot break.
    """
    return list(dict.fromkeys(re.findall(r"[a-z0-9]+", text)))


def tsquery_any(words: list[str]) -> str:
    """Return an English tsquery that matches any of ``words`` except the noise words."""
    return " | ".join(w for w in words if w not in NOISE_WORDS)


def tsquery_prefix(words: list[str]) -> str:
    """Return a 'simple' tsquery matching chart names (weight A) that start with a word."""
    return " | ".join(f"{w}:*A" for w in words if len(w) >= MIN_PREFIX_CHARS)


def like_pattern(text: str) -> str:
    """Return a LIKE pattern for ``text`` anywhere, with LIKE's wildcards escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def word_regex(text: str) -> str:
    """Return a Postgres regex that matches ``text`` as whole words (word-boundary escapes)."""
    return WORD_START + re.escape(text) + WORD_END


_SEARCH_SQL = """
with q as (
    select plainto_tsquery('english', %(text)s) as all_words,
           to_tsquery('english', %(any)s) || to_tsquery('simple', %(prefix)s) as any_word,
           array(select to_tsquery('english', w) from unnest(%(words)s::text[]) w
                 where numnode(to_tsquery('english', w)) > 0) as word_queries
),
scored as (
    select c.search_tsv, c.name, c.chart_repo, c.version, c.app_version, c.description, c.keywords,
           c.category, c.deprecated, c.chart_path,
           lower(c.name) in (%(text)s, %(dashed)s) as exact,
           starts_with(lower(c.name), %(text)s) or starts_with(lower(c.name), %(dashed)s)
               as prefix,
           lower(c.name) ~ %(name_start)s or lower(c.name) ~ %(name_start_dashed)s
               or (%(loose)s and lower(c.name) like %(like_dashed)s) as in_name,
           %(text)s = any(select lower(k) from unnest(c.keywords) k) as keyword,
           -- A query of stop words only ("the") says nothing about a description.
           numnode(q.all_words) > 0 and coalesce(c.description, '') ~* %(phrase)s
               as in_description,
           numnode(q.all_words) > 0 and c.search_tsv @@ q.all_words as all_words,
           numnode(q.any_word) > 0 and c.search_tsv @@ q.any_word as any_word,
           q.word_queries,
           ts_rank(c.search_tsv, q.any_word) as text_rank,
           case when c.chart_repo = any(%(upstream)s) then 0
                when c.chart_repo = any(%(verified)s) then 1 else 2 end as publisher_rank
    from k8s.charts c, q
),
tiered as (
    select *, case when exact then 0 when prefix then 1 when in_name then 2
                   when keyword or in_description then 3 when all_words then 4
                   -- One word of several is noise ("drop table cloud instances" matching
                   -- "instances"): a query of several words must match two of them. CASE is
                   -- lazy, so only rows that got this far count their words.
                   when any_word and (
                       select count(*) from unnest(word_queries) w where search_tsv @@ w
                   ) >= least(2, cardinality(word_queries)) then 5 end as tier
    from scored
)
select name, chart_repo, version, app_version, description, keywords, category, deprecated,
       chart_path, exact, prefix, in_name, keyword, in_description, all_words, any_word,
       text_rank, publisher_rank, tier
from tiered where tier is not null
-- Among name matches the name itself decides; among text matches the text rank does.
order by deprecated, tier, publisher_rank,
         case when tier >= 3 then text_rank end desc nulls last, name, chart_repo
limit %(top_k)s
"""

_PUBLISHERS: tuple[Publisher, ...] = ("upstream", "verified", "community")


def _why(row: dict[str, Any], text: str) -> list[str]:
    reasons = []
    if row["exact"]:
        reasons.append("name equals the query")
    elif row["prefix"]:
        reasons.append("name starts with the query")
    elif row["in_name"]:
        reasons.append("query appears in the name")
    if row["keyword"]:
        reasons.append(f"keyword {text!r}")
    if row["in_description"]:
        reasons.append("query appears in the description")
    if row["all_words"] and not reasons:
        reasons.append("full text: every query word (name, keywords or description)")
    elif row["any_word"] and not reasons:
        reasons.append("full text: some query words (name, keywords or description)")
    if row["deprecated"]:
        reasons.append("DEPRECATED: ranked last")
    return reasons


async def search_charts(
    conn: AsyncConnection[Any], query: str, *, top_k: int = 5
) -> ChartSearchResult:
    """Find the Helm charts that best match ``query`` (a name, a word or a phrase).

    Raises:
        ValueError: If the query is empty or too long, or ``top_k`` is outside 1..MAX_TOP_K.

    """
    if not 1 <= top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be between 1 and {MAX_TOP_K}")
    text = normalise_query(query)
    words = query_words(text)
    dashed = "-".join(text.split())
    params = {
        "text": text,
        "dashed": dashed,
        "name_start": WORD_START + re.escape(text),
        "name_start_dashed": WORD_START + re.escape(dashed),
        # A bare substring ("ray" in "kuberay") counts only for words long enough to mean it.
        "loose": len(dashed) >= LOOSE_NAME_CHARS,
        "like_dashed": like_pattern(dashed),
        "words": [w for w in words if w not in NOISE_WORDS],
        "phrase": word_regex(text),
        "any": tsquery_any(words),
        "prefix": tsquery_prefix(words),
        "upstream": list(UPSTREAM_REPOS),
        "verified": list(VERIFIED_REPOS),
        "top_k": top_k,
    }
    rows = await (await conn.execute(_SEARCH_SQL, params)).fetchall()
    hits = [
        ChartHit(
            name=row["name"],
            version=row["version"],
            app_version=row["app_version"],
            description=row["description"],
            repo=row["chart_repo"],
            chart_path=row["chart_path"],
            keywords=row["keywords"],
            category=row["category"],
            publisher=_PUBLISHERS[row["publisher_rank"]],
            deprecated=row["deprecated"],
            tier=row["tier"],
            text_rank=round(float(row["text_rank"]), 4),
            why=_why(row, text),
        )
        for row in rows
    ]
    notes = ["the chart catalog has no popularity figures: ranked by match, publisher, text"]
    if any(hit.deprecated for hit in hits):
        notes.append("deprecated charts are listed last; prefer a maintained alternative")
    return ChartSearchResult(query=text, results=hits, notes=notes)
