"""The report's figures: a metric per category, the latency histogram, compression vs fidelity.

matplotlib draws them with the Agg backend (no display). It is optional: without it the
report says so and the eval still runs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CATEGORY_METRICS = ("spec_accuracy", "clarify_accuracy", "groundedness", "oracle", "constraints")
FIGURES = {
    "categories": "metrics_by_category.png",
    "latency": "latency_hist.png",
    "compression": "compression_fidelity.png",
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_categories(results: dict[str, Any], path: Path) -> None:
    """Draw one group of bars per category, a bar per metric (missing metrics left out)."""
    plt = _pyplot()
    categories = sorted(results["categories"])
    fig, ax = plt.subplots(figsize=(max(8.0, 1.1 * len(categories) + 3), 4.5))
    width = 0.8 / len(CATEGORY_METRICS)
    for i, metric in enumerate(CATEGORY_METRICS):
        values = [results["categories"][c].get(metric) for c in categories]
        xs = [j + i * width for j, v in enumerate(values) if v is not None]
        ys = [v for v in values if v is not None]
        ax.bar(xs, ys, width, label=metric.replace("_", " "))
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(categories))])
    ax.set_xticklabels(categories, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score (all scenarios, known failures included)")
    ax.set_title("Metrics by category")
    ax.legend(
        fontsize=8, ncol=len(CATEGORY_METRICS), loc="lower center", bbox_to_anchor=(0.5, -0.45)
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency(results: dict[str, Any], path: Path) -> None:
    """Draw the histogram of per-turn latency, with p50 and p95 marked."""
    plt = _pyplot()
    latencies = [
        t["latency_s"] for s in results["scenarios"] for t in s["turns"] if t["error"] is None
    ]
    fig, ax = plt.subplots(figsize=(7, 4))
    if latencies:
        ax.hist(latencies, bins=min(40, max(5, len(latencies) // 3)), color="#4c72b0")
        metrics = results["all"]["metrics"]
        for name, style in (("latency_p50_s", "--"), ("latency_p95_s", ":")):
            if metrics.get(name) is not None:
                ax.axvline(
                    metrics[name],
                    color="black",
                    linestyle=style,
                    label=f"{name[8:11]} {metrics[name]:.2f} s",
                )
        ax.legend()
    ax.set_xlabel("seconds per turn")
    ax.set_ylabel("turns")
    ax.set_title(f"Turn latency ({results['meta']['provider']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_compression(results: dict[str, Any], path: Path) -> None:
    """Plot tokens saved against fidelity per scenario, or say the optimizer is absent."""
    plt = _pyplot()
    ab = results["compression"]
    fig, ax = plt.subplots(figsize=(7, 4))
    if not ab.get("available"):
        ax.text(
            0.5,
            0.5,
            ab.get("reason", "optimizer not available"),
            ha="center",
            va="center",
            wrap=True,
        )
        ax.set_axis_off()
    else:
        by_scenario: dict[str, list[dict[str, Any]]] = {}
        for row in ab["turns"]:
            by_scenario.setdefault(row["scenario"], []).append(row)
        xs, ys = [], []
        for rows in by_scenario.values():
            before = sum(r["tokens_before"] or 0 for r in rows)
            saved = sum(r["saved"] or 0 for r in rows)
            same = [
                not (r["decision_changed"] or r["spec_changed"] or r["top_instance_changed"])
                for r in rows
            ]
            xs.append(saved / before if before else 0.0)
            ys.append(sum(same) / len(same))
        ax.scatter(xs, ys, alpha=0.7)
        ax.set_xlabel("tokens saved (share of the conversation)")
        ax.set_ylabel("fidelity (share of turns unchanged)")
        ax.set_ylim(-0.05, 1.05)
        ax.set_title("Compression vs fidelity, per scenario")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_all(results: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """Draw every figure; return figure name → file name, empty when matplotlib is missing."""
    try:
        _pyplot()
    except ImportError:
        logger.warning("matplotlib is not installed: the report has no plots")
        return {}
    drawn = {}
    for name, draw in (
        ("categories", plot_categories),
        ("latency", plot_latency),
        ("compression", plot_compression),
    ):
        draw(results, out_dir / FIGURES[name])
        drawn[name] = FIGURES[name]
    return drawn
