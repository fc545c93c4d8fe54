"""Intent reading: word rules vs MiniLM example phrases vs both, on held-out phrasings.

For task, domain and whether GPUs are needed, each reader's answer on every held-out message
(bench/corpus/intents_heldout.yaml) is right, wrong (a label where another, or none, was
meant) or an abstention. "both" takes the rules' answer and asks the embeddings only where the
rules found nothing. Writes bench/results/reading_intents.json.

    python -m bench.reading_intents
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.offline_extractor import read_message  # noqa: E402
from agents.reading.intents import IntentClassifier  # noqa: E402
from agents.reading.vocabulary import Vocabulary  # noqa: E402
from core.embeddings import LocalEmbedder  # noqa: E402
from tools.catalog import catalog_facts_from_files  # noqa: E402

FIELDS = ("task_type", "domain", "gpu_needed")
OUT = ROOT / "bench" / "results" / "reading_intents.json"


def _label(value: object) -> str | None:
    if value is None:
        return None
    return str(value).lower()


def main() -> None:
    """Score the three readers and write the figures."""
    cases = yaml.safe_load((ROOT / "bench" / "corpus" / "intents_heldout.yaml").read_text())
    vocabulary = Vocabulary.from_facts(catalog_facts_from_files(ROOT / "data"))
    embedder = LocalEmbedder()
    started = time.perf_counter()
    classifier = IntentClassifier.build(embedder)
    build_s = time.perf_counter() - started
    vectors = embedder.embed([c["text"] for c in cases])
    tally = {r: {"right": 0, "wrong": 0, "abstained": 0} for r in ("rules", "embeddings", "both")}
    wrong: dict[str, list[str]] = {r: [] for r in tally}
    for case, vector in zip(cases, vectors, strict=True):
        rules = read_message(case["text"], vocabulary).values
        embedded = classifier.classify(vector, FIELDS)
        for name in FIELDS:
            want = _label(case.get(name))
            answers = {
                "rules": _label(rules.get(name)),
                "embeddings": _label(embedded.get(name)),
            }
            answers["both"] = answers["rules"] or answers["embeddings"]
            for reader, got in answers.items():
                if got == want:
                    tally[reader]["right"] += 1
                elif got is None:
                    tally[reader]["abstained"] += 1
                else:
                    tally[reader]["wrong"] += 1
                    wrong[reader].append(f"{name}: {got} for {want}: {case['text']}")
    total = len(cases) * len(FIELDS)
    figures = {
        "cases": len(cases),
        "field_readings": total,
        "classifier_build_s": round(build_s, 3),
        "readers": {
            r: {**t, "accuracy": round(t["right"] / total, 3)} for r, t in tally.items()
        },
        "wrong": wrong,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(figures, indent=2) + "\n")
    for reader, t in figures["readers"].items():
        print(f"{reader:10s} right {t['right']:3d} wrong {t['wrong']:3d} "
              f"abstained {t['abstained']:3d} accuracy {t['accuracy']:.3f}")
    for reader, items in wrong.items():
        for item in items:
            print(f"  [{reader}] {item}")


if __name__ == "__main__":
    main()
