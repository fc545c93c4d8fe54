"""The context optimizer against truncation and LexRank, at the same token budget.

Corpus: 30 seeded generated chats plus the hand-written ones (bench/corpus), each 40+ turns
with restatements, digressions, tool results and corrections, labelled with its final
WorkloadSpec fields. For every chat the budget is tokens_before / ratio (3, the target, and
5, to show where pins start to overflow), and three methods compress to it:

- optimizer: tools.optimizer (spectral, contradiction-aware; NLI disabled, as by default);
- truncation: keep the last N tokens (whole messages from the end, the first one cut);
- LexRank: sumy's LexRank over the same units (pre-split, fed through ObjectDocumentModel
  with a regex word tokenizer, so no NLTK data is needed), best-rated units first.

Spec fidelity: the offline requirements extractor (agents.requirements.read_offline) gives
the same WorkloadSpec on the compressed messages as on the full ones. Literal fact survival:
of every final fact of a chat (its label: a field with the value it ends with), the share
that some kept user message still states word for word (read alone, it gives that value).
Latency: the optimizer on 50 / 200 / 1,000 units built from the corpus, embeddings cached in
memory, so the times exclude embedding. Prints the tables and writes bench/results/optimizer.json.

On a small shared machine, multithreaded BLAS makes the timings erratic (threads wait for
cores that other processes hold); ``OPENBLAS_NUM_THREADS=1`` gives steady figures, and is a
sensible setting for API pods with CPU limits too. The results record which was used.

    .venv/bin/python bench/optimizer.py [--ratios 3,5] [--chats 30] [--seed 8] [--repeats 15]
                                        [--embedder minilm|hash]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from langchain_core.messages import (  # noqa: E402
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from agents.offline_extractor import read_message  # noqa: E402
from agents.requirements import read_offline  # noqa: E402
from agents.vocabulary import Vocabulary  # noqa: E402
from bench.common import RESULTS_DIR, write_results  # noqa: E402
from bench.corpus.baselines import lexrank, lexrank_order, truncate  # noqa: E402
from bench.corpus.generator import Chat, generate_corpus  # noqa: E402
from bench.corpus.handwritten import load_handwritten  # noqa: E402
from core.embeddings import LocalEmbedder  # noqa: E402
from core.settings import PROJECT_ROOT  # noqa: E402
from tools.catalog import catalog_facts_from_files  # noqa: E402
from tools.optimizer import OptimizerConfig, optimize_messages, optimize_turns  # noqa: E402
from tools.optimizer.messages import to_turns  # noqa: E402
from tools.optimizer.signed_graph import cosine_matrix, knn_graph  # noqa: E402
from tools.optimizer.spectral import analyze  # noqa: E402
from tools.optimizer.tokens import (  # noqa: E402
    TOKENIZER_NAME,
    count_tokens,
)
from tools.optimizer.units import Turn, Unit, message_tokens, unitize  # noqa: E402

DATA = PROJECT_ROOT / "data"


class CachedEmbedder:
    """Memoises another embedder in memory: the corpus is embedded once per run."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model_name = inner.model_name
        self.dim = inner.dim
        self.cache: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            self.cache.update(zip(missing, self.inner.embed(missing), strict=True))
        return np.stack([self.cache[t] for t in texts]) if texts else np.zeros((0, self.dim))


class HashEmbedder:
    """Bag of hashed words: a fast stand-in for quick runs (``--embedder hash``)."""

    model_name = "hash-256"
    dim = 256

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9$]+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def vocabulary() -> Vocabulary:
    return Vocabulary.from_facts(catalog_facts_from_files(DATA))


def to_messages(chat: Chat) -> list[BaseMessage]:
    out: list[BaseMessage] = []
    for m in chat.messages:
        if m["role"] == "system":
            out.append(SystemMessage(m["content"]))
        elif m["role"] == "user":
            out.append(HumanMessage(m["content"]))
        elif m["role"] == "assistant":
            calls = [
                {"id": c["id"], "name": c["name"], "args": c["args"]}
                for c in m.get("tool_calls", [])
            ]
            out.append(AIMessage(m["content"], tool_calls=calls))
        else:
            out.append(
                ToolMessage(m["content"], tool_call_id=m["tool_call_id"], name=m.get("name"))
            )
    return out


def tokens_of(messages: Sequence[BaseMessage]) -> int:
    return sum(message_tokens(t) for t in to_turns(messages))


# --- the comparison --------------------------------------------------------------------


async def compare(
    chats: list[Chat], embedder: Any, vocab: Vocabulary, ratio: float
) -> dict[str, Any]:
    reader = _reader(vocab)
    rows = []
    for chat in chats:
        messages = to_messages(chat)
        full = read_offline(messages, vocab)
        before = tokens_of(messages)
        budget = int(before / ratio)
        units = unitize(to_turns(messages))
        result = await optimize_messages(
            messages, embedder=embedder, budget_tokens=budget, field_reader=reader
        )
        outputs = {
            "optimizer": result.messages,
            "truncation": truncate(messages, budget),
            "lexrank": lexrank(messages, budget, _ranked(chat, units), units),
        }
        row: dict[str, Any] = {
            "chat": chat.chat_id,
            "source": chat.source,
            "turns": chat.turns,
            "units": len(units),
            "tokens_before": before,
            "budget": budget,
            "label_matches_full": _label_fields(full) == _label_fields_of(chat.label, vocab),
            "guard_repairs": len(result.report.guard_repairs),
            "pinned_over_budget": result.report.pinned_over_budget,
            "stability_index": result.report.stability_index,
            "clusters": result.report.clusters,
            "contradictions": len(result.report.contradictions),
        }
        for name, out in outputs.items():
            after = tokens_of(out)
            kept, lost = literal_facts(out, chat.label, vocab)
            row[name] = {
                "tokens_after": after,
                "ratio": round(before / after, 3) if after else None,
                "within_budget": after <= budget,
                "fidelity": read_offline(out, vocab) == full,
                "fields_lost": _differing(read_offline(out, vocab), full),
                "facts": len(chat.label),
                "facts_kept": kept,
                "facts_lost": lost,
            }
        rows.append(row)
    return {"ratio_target": ratio, "chats": rows, "summary": _summarise(rows)}


def literal_facts(
    messages: Sequence[BaseMessage], label: dict[str, Any], vocab: Vocabulary
) -> tuple[int, list[str]]:
    """Count the label's facts that some kept user message still states with its final value."""
    stated: dict[str, list[Any]] = {}
    for message in messages:
        if isinstance(message, HumanMessage):
            for name, value in read_message(message.text, vocab).values.items():
                stated.setdefault(name, []).append(value)
    lost = [
        name
        for name, value in label.items()
        if not any(_same(value, said) for said in stated.get(name, []))
    ]
    return len(label) - len(lost), lost


def _same(want: Any, got: Any) -> bool:
    if isinstance(want, list) and isinstance(got, list):
        return set(want) == set(got)
    return bool(want == got)


_RANK_CACHE: dict[str, list[int]] = {}


def _ranked(chat: Chat, units: list[Unit]) -> list[int]:
    if chat.chat_id not in _RANK_CACHE:
        _RANK_CACHE[chat.chat_id] = lexrank_order(units)
    return _RANK_CACHE[chat.chat_id]


def _differing(spec: Any, full: Any) -> list[str]:
    got, want = spec.model_dump(), full.model_dump()
    out = []
    for key, value in want.items():
        if isinstance(value, dict):
            out += [f"{key}.{k}" for k, v in value.items() if got[key].get(k) != v]
        elif got.get(key) != value:
            out.append(key)
    return out


def _reader(vocab: Vocabulary) -> Any:
    return lambda text: read_message(text, vocab).values


def _label_fields(spec: Any) -> dict[str, Any]:
    return spec.model_dump()


def _label_fields_of(label: dict[str, Any], vocab: Vocabulary) -> dict[str, Any]:
    from agents.offline_extractor import to_spec

    return to_spec(dict(label)).model_dump()


def _summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("optimizer", "truncation", "lexrank"):
        ratios = [r[name]["ratio"] for r in rows if r[name]["ratio"]]
        out[name] = {
            "ratio_median": round(statistics.median(ratios), 2),
            "ratio_min": round(min(ratios), 2),
            "fidelity": sum(r[name]["fidelity"] for r in rows),
            "facts": sum(r[name]["facts"] for r in rows),
            "facts_kept": sum(r[name]["facts_kept"] for r in rows),
            "within_budget": sum(r[name]["within_budget"] for r in rows),
            "chats": len(rows),
        }
    out["labels_match_full"] = sum(r["label_matches_full"] for r in rows)
    out["guard_repairs"] = sum(r["guard_repairs"] for r in rows)
    out["pinned_over_budget"] = sum(r["pinned_over_budget"] for r in rows)
    return out


# --- latency ---------------------------------------------------------------------------


def conversation_of(chats: list[Chat], units_wanted: int) -> list[Turn]:
    """Concatenate corpus chats (whole user/assistant exchanges) until the units suffice."""
    turns: list[Turn] = []
    for chat in chats * 10:
        for message in to_turns(to_messages(chat)):
            if message.role == "system":
                continue
            turns.append(message)
            if len(unitize(turns)) >= units_wanted and message.role == "user":
                return turns
    return turns


async def latency(
    chats: list[Chat], embedder: Any, vocab: Vocabulary, repeats: int
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cache: dict[str, dict[str, Any]] = {}
    plain = _reader(vocab)

    def warm_reader(text: str) -> dict[str, Any]:
        if text not in cache:
            cache[text] = plain(text)
        return cache[text]

    for size in (50, 200, 1000):
        turns = conversation_of(chats, size)
        n_units = len(unitize(turns))
        budget = sum(message_tokens(t) for t in turns) // 3
        config = OptimizerConfig(min_context_tokens=0)
        # Warm-up: fills the embedding cache (and the reader memo for the warm figures).
        await optimize_turns(
            turns, embedder=embedder, budget_tokens=budget, field_reader=warm_reader, config=config
        )
        samples: dict[str, list[float]] = {}
        for _ in range(repeats):
            result = await optimize_turns(
                turns,
                embedder=embedder,
                budget_tokens=budget,
                field_reader=warm_reader,
                config=config,
            )
            for step, ms in result.report.timings_ms.items():
                samples.setdefault(step, []).append(ms)
        # Cold: nothing counted or read before (embeddings still cached), as on a new thread.
        count_tokens.cache_clear()
        cold = await optimize_turns(
            turns, embedder=embedder, budget_tokens=budget, field_reader=plain, config=config
        )
        medians = {step: round(statistics.median(v), 2) for step, v in samples.items()}
        out[str(size)] = {
            "units": n_units,
            "median_ms": medians,
            "min_ms": {step: round(min(v), 2) for step, v in samples.items()},
            "excluding_embed_ms": medians["total_excluding_embed"],
            "excluding_embed_min_ms": round(min(samples["total_excluding_embed"]), 2),
            "core_ms": round(medians["total_excluding_embed"] - medians.get("fields", 0.0), 2),
            "cold_excluding_embed_ms": cold.report.timings_ms["total_excluding_embed"],
            "cold_ms": cold.report.timings_ms,
            "spectral_method": result.report.spectral_method,
            "repeats": repeats,
        }
        if size == 1000:
            out["1000"]["spectral_dense_vs_eigsh_ms"] = _spectral_solvers(turns, embedder)
    return out


def _spectral_solvers(turns: list[Turn], embedder: Any) -> dict[str, float]:
    units = unitize(turns)
    vectors = embedder.embed([u.text for u in units])
    weights = knn_graph(cosine_matrix(vectors), 10)
    times = {}
    for name, dense in (("dense", True), ("eigsh", False)):
        start = time.perf_counter()
        analyze(weights, weights, dense=dense)
        times[name] = round((time.perf_counter() - start) * 1000, 1)
    return times


# --- output ----------------------------------------------------------------------------


def print_tables(comparisons: list[dict[str, Any]], timing: dict[str, Any]) -> None:
    for comparison in comparisons:
        print_comparison(comparison)
    print_latency(timing)


def print_comparison(comparison: dict[str, Any]) -> None:
    s = comparison["summary"]
    n = s["optimizer"]["chats"]
    ratio = comparison["ratio_target"]
    print(f"\nCorpus: {n} chats; budget = tokens_before / {ratio:g} per chat")
    print(f"labels read back from the full chats: {s['labels_match_full']}/{n}")
    header = (
        "method",
        "token ratio (median, min)",
        "spec fidelity",
        "facts kept",
        "within budget",
    )
    print(f"{header[0]:<12} {header[1]:>26} {header[2]:>15} {header[3]:>16} {header[4]:>14}")
    for name in ("optimizer", "truncation", "lexrank"):
        m = s[name]
        ratios = f"{m['ratio_median']:.2f}x, {m['ratio_min']:.2f}x"
        fidelity = f"{m['fidelity']}/{n} ({100 * m['fidelity'] / n:.0f}%)"
        kept = f"{m['facts_kept']}/{m['facts']} ({100 * m['facts_kept'] / m['facts']:.0f}%)"
        print(f"{name:<12} {ratios:>26} {fidelity:>15} {kept:>16} {m['within_budget']:>11}/{n}")
    repairs, over = s["guard_repairs"], s["pinned_over_budget"]
    print(f"optimizer: fidelity-guard repairs {repairs}, pinned over budget {over}")
    for name in ("truncation", "lexrank"):
        lost = Counter(f for row in comparison["chats"] for f in row[name]["fields_lost"])
        common = ", ".join(f"{field} ({n})" for field, n in lost.most_common(4))
        print(f"{name} most often lost: {common or 'nothing'}")


def print_latency(timing: dict[str, Any]) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"\nLatency excluding embedding (embeddings cached; {TOKENIZER_NAME})")
    print(f"load average {load}; OPENBLAS_NUM_THREADS={blas}")
    header = ("units", "warm median", "warm min", "of which fields", "cold", "solver")
    print(
        f"{header[0]:>6} {header[1]:>12} {header[2]:>10} {header[3]:>16} {header[4]:>10} "
        f"{header[5]:>7}"
    )
    for size in ("50", "200", "1000"):
        t = timing[size]
        fields = t["median_ms"].get("fields", 0.0)
        print(
            f"{t['units']:>6} {t['excluding_embed_ms']:>9.1f} ms "
            f"{t['excluding_embed_min_ms']:>7.1f} ms {fields:>13.1f} ms "
            f"{t['cold_excluding_embed_ms']:>7.1f} ms {t['spectral_method']:>7}"
        )
    print("warm: token counts and field readings cached, as on a later turn of the same chat;")
    print("cold: one run with nothing cached but the embeddings; min is the least contended run")
    if "spectral_dense_vs_eigsh_ms" in timing["1000"]:
        d = timing["1000"]["spectral_dense_vs_eigsh_ms"]
        units = timing["1000"]["units"]
        print(f"spectral step at {units} units: dense {d['dense']} ms, eigsh {d['eigsh']} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ratios", default="3,5", help="budgets to compare, as tokens_before / ratio"
    )
    parser.add_argument("--chats", type=int, default=30, help="generated chats")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=15, help="latency repeats per size")
    parser.add_argument("--embedder", choices=("minilm", "hash"), default="minilm")
    parser.add_argument(
        "--latency-only",
        action="store_true",
        help="re-measure latency (on a quieter machine) and keep the stored comparison",
    )
    args = parser.parse_args()

    vocab = vocabulary()
    chats = generate_corpus(args.chats, args.seed, vocab.models.find) + load_handwritten()
    inner = LocalEmbedder() if args.embedder == "minilm" else HashEmbedder()
    embedder = CachedEmbedder(inner)
    start = time.perf_counter()
    stored = RESULTS_DIR / "optimizer.json"
    if args.latency_only and stored.exists():
        comparisons = json.loads(stored.read_text())["comparisons"]
    else:
        ratios = [float(r) for r in args.ratios.split(",")]
        comparisons = [await compare(chats, embedder, vocab, ratio) for ratio in ratios]
    timing = await latency(chats, embedder, vocab, args.repeats)
    print_tables(comparisons, timing)
    path = write_results(
        "optimizer",
        {
            "embedder": inner.model_name,
            "tokenizer": TOKENIZER_NAME,
            "seed": args.seed,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "comparisons": comparisons,
            "latency": timing,
            "load_average": os.getloadavg(),
            "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
            "wall_s": round(time.perf_counter() - start, 1),
        },
    )
    print(f"\nwrote {path.relative_to(PROJECT_ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
