"""``report.md``: the gate, every metric, the known failures and the figures, from results.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.plots import draw_all

CATEGORY_COLUMNS = (
    ("spec_accuracy", "spec"),
    ("clarify_accuracy", "clarify"),
    ("trajectory", "tools"),
    ("groundedness", "grounded"),
    ("oracle", "oracle"),
    ("constraints", "constraints"),
)


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _secs(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f} s"


def _threshold_table(rows: list[dict[str, Any]]) -> list[str]:
    out = ["| metric | value | threshold | |", "|---|---|---|---|"]
    for row in rows:
        mark = "n/a" if row["value"] is None else ("ok" if row["ok"] else "**FAIL**")
        out.append(
            f"| {row['metric']} | {_pct(row['value'])} | {_pct(row['threshold'])} | {mark} |"
        )
    return out


def _summary(results: dict[str, Any]) -> list[str]:
    meta, gate = results["meta"], results["gate"]
    metrics = results["all"]["metrics"]
    verdict = "PASSED" if gate["passed"] else "FAILED"
    lines = [
        f"# Stack8s eval: {meta['provider']}{' / ' + meta['model'] if meta.get('model') else ''}",
        "",
        f"{meta['scenarios']} scenarios × {meta['repeat']} repeat(s), {metrics['turns']} turns, "
        f"{meta['duration_s']:.1f} s, started {meta['started_at']}"
        + (f", filters {meta['filters']}" if meta["filters"] else "")
        + f". **Gate {verdict}.**",
        "",
    ]
    phases = ", ".join(f"{name} {secs:.1f} s" for name, secs in meta.get("phases_s", {}).items())
    if phases:
        lines += [f"Phases: {phases}.", ""]
    lines += [f"> {note}" for note in meta.get("notes", [])]
    return lines


def _clarify(metrics: dict[str, Any]) -> list[str]:
    confusion = metrics["clarify_confusion"]
    return [
        "## Clarify or proceed",
        "",
        f"Asking is the positive class. Precision {_pct(metrics['clarify_precision'])}, recall "
        f"{_pct(metrics['clarify_recall'])}, decisions right {_pct(metrics['clarify_accuracy'])} "
        f"(asked when needed {confusion['tp']}, asked needlessly {confusion['fp']}, planned "
        f"when it should have asked {confusion['fn']}, planned rightly {confusion['tn']}). "
        f"Questions per clarification: "
        + ("n/a" if metrics["questions_mean"] is None else f"{metrics['questions_mean']:.2f}")
        + f", within 1–3: {_pct(metrics['questions_in_range'])}, none asked again word for "
        f"word: {_pct(metrics.get('questions_fresh'))}.",
        "",
    ]


def _categories(results: dict[str, Any], figures: dict[str, str]) -> list[str]:
    head = "| category | scenarios | passed | " + " | ".join(c for _, c in CATEGORY_COLUMNS)
    lines = [
        "## By category (all scenarios)",
        "",
        head + " | p50 |",
        "|---" * (len(CATEGORY_COLUMNS) + 4) + "|",
    ]
    for name, m in sorted(results["categories"].items()):
        cells = " | ".join(_pct(m[key]) for key, _ in CATEGORY_COLUMNS)
        lines.append(
            f"| {name} | {m['scenarios']} | {m['scenarios_passed']} | {cells} | "
            f"{_secs(m['latency_p50_s'])} |"
        )
    lines.append("")
    if "categories" in figures:
        lines += [f"![metrics by category]({figures['categories']})", ""]
    return lines


def _known(results: dict[str, Any]) -> list[str]:
    known = results["known_failures"]
    lines = ["## Known failures (scored, left out of the gate, never counted as passes)", ""]
    if not known:
        return [*lines, "None.", ""]
    for item in known:
        lines.append(
            f"- **{item['id']}** (repeat {item['repeat']}): {item['reason']} — *{item['status']}*."
        )
        lines += [f"  - {f}" for f in item["failures"][:8]]
    return [*lines, ""]


def _failures(results: dict[str, Any]) -> list[str]:
    lines = ["## Failures in the gated scenarios", ""]
    failing = [s for s in results["scenarios"] if not s["passed"] and not s["known_failure"]]
    if not failing:
        return [*lines, "None.", ""]
    for s in failing:
        if s["invariant_ok"] is False:
            lines.append(
                f"- **{s['id']}** (repeat {s['repeat']}): the plan changed with the "
                "fixture in the catalog"
            )
        for i, turn in enumerate(s["turns"], 1):
            if turn["failures"]:
                lines.append(
                    f"- **{s['id']}** (repeat {s['repeat']}) turn {i} "
                    f"“{turn['user'][:60]}”: " + "; ".join(turn["failures"][:6])
                )
    return [*lines, ""]


def _latency(results: dict[str, Any], figures: dict[str, str]) -> list[str]:
    m = results["all"]["metrics"]
    tokens = (
        "no LLM tokens (offline provider, or not visible through the API)"
        if m["tokens_total"] is None
        else f"{m['tokens_total']:,} tokens in all, {m['tokens_per_turn']:.0f} per turn"
    )
    lines = [
        "## Latency and tokens",
        "",
        f"Per turn, with {results['meta']['concurrency']} conversation(s) at once: "
        f"p50 {_secs(m['latency_p50_s'])}, p95 {_secs(m['latency_p95_s'])}; {tokens}.",
        "",
    ]
    if "latency" in figures:
        lines += [f"![latency]({figures['latency']})", ""]
    return lines


def _compression(results: dict[str, Any], figures: dict[str, str]) -> list[str]:
    ab = results["compression"]
    lines = ["## Compression A/B (optimizer on vs off)", ""]
    if not ab.get("available"):
        lines += [f"{ab.get('reason', 'optimizer not available')}.", ""]
    else:
        s = ab["summary"]
        if s["errors"]:
            lines += [
                f"**{s['errors']} turn(s) failed in an arm and are left out**; first "
                f"error: `{s['first_error']}`",
                "",
            ]
        lines += [
            f"{s['turns']} turns: {s['tokens_saved']:,} of {s['tokens_before']:,} tokens saved "
            f"({_pct(s['saved_ratio'])}); fidelity {_pct(s['fidelity'])} (decision changed "
            f"{s['decision_changes']}×, spec {s['spec_changes']}×, top instance "
            f"{s['top_instance_changes']}×).",
            "",
        ]
        changed = [
            r
            for r in ab["turns"]
            if not r["error"] and (r["decision_changed"] or r["spec_changed"])
        ]
        lines += [
            f"- {r['scenario']} turn {r['turn']}: decision changed "
            f"{r['decision_changed']}, spec fields {r['spec_changed']}"
            for r in changed[:20]
        ]
    if "compression" in figures:
        lines += ["", f"![compression vs fidelity]({figures['compression']})", ""]
    return lines


def _fields(metrics: dict[str, Any]) -> list[str]:
    lines = [
        "## Spec fields (all scenarios)",
        "",
        "| field | matched | accuracy |",
        "|---|---|---|",
    ]
    for name, hit in metrics["spec_fields"].items():
        lines.append(
            f"| {name} | {hit['matched']}/{hit['total']} | {_pct(hit['matched'] / hit['total'])} |"
        )
    return [*lines, ""]


def render(results: dict[str, Any], figures: dict[str, str]) -> str:
    """Render the whole report as Markdown."""
    lines = _summary(results)
    lines += ["## Gate (known failures left out)", ""]
    lines += [*_threshold_table(results["gate"]["thresholds"]), ""]
    lines += ["## The same floors over all scenarios (known failures count as failures)", ""]
    lines += [*_threshold_table(results["all"]["thresholds"]), ""]
    if results.get("consistency") is not None:
        lines += [
            f"Consistency over repeats: {_pct(results['consistency'])} of the scenario "
            "turns came out the same every time.",
            "",
        ]
    lines += _clarify(results["all"]["metrics"])
    lines += _categories(results, figures)
    lines += _known(results)
    lines += _failures(results)
    lines += _latency(results, figures)
    lines += _compression(results, figures)
    lines += _fields(results["all"]["metrics"])
    if not figures:
        lines += ["> matplotlib is not installed: no figures were drawn.", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_report(results: dict[str, Any], out_dir: Path, *, plots: bool = True) -> Path:
    """Draw the figures (if asked and possible) and write ``report.md``; return its path."""
    figures = draw_all(results, out_dir) if plots else {}
    path = out_dir / "report.md"
    path.write_text(render(results, figures), encoding="utf-8")
    return path
