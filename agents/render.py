"""Markdown for the user: clarifying questions, or the plan as tables and steps."""

from __future__ import annotations

from collections.abc import Sequence

from agents.job_costs import duration
from agents.schemas import DeploymentPlan, GpuRecommendation


def render_questions(questions: Sequence[str], assumptions: Sequence[str] = ()) -> str:
    """Render 1-3 clarifying questions."""
    lines = ["A few questions before I plan this:", ""]
    lines += [f"{i}. {q}" for i, q in enumerate(questions, 1)]
    if assumptions:
        lines += ["", "So far I understood: " + "; ".join(assumptions) + "."]
    return "\n".join(lines)


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}"


def weights_words(g: GpuRecommendation) -> str:
    """Say the weights an option serves: its precision, and its build when not the base model."""
    if not g.precision:
        return "-"
    return f"{g.precision} ({g.build_repo})" if g.build_repo else g.precision


def parallel_words(g: GpuRecommendation) -> str:
    """Say an option's tensor parallel × replicas (1 × 2: two one-GPU engines)."""
    if not g.tensor_parallel or not g.replicas:
        return "-"
    return f"{g.tensor_parallel} × {g.replicas}"


def _configured(gpus: Sequence[GpuRecommendation]) -> bool:
    # Options from the configuration search each say what they deploy; an instance search's
    # rows all run the sizing's configuration, which the Sizing section states.
    return any(g.precision for g in gpus)


def _run_note(plan: DeploymentPlan) -> str:
    job = plan.cost_estimate.job if plan.cost_estimate else None
    fixed = job.fixed_hours if job is not None else 0.0
    return (
        "Run time: the training spread over the instance's GPUs, plus "
        f"{fixed:g} h of start-up, image pull, model download and checkpoint writes; "
        "run cost = $/hour × run time, paid once."
    )


def _sentence(words: str) -> str:
    return words[:1].upper() + words[1:]


def _budget_words(within: bool | None) -> str:
    return {True: ", within the budget", False: ", over the budget", None: ""}[within]


def render_plan(plan: DeploymentPlan) -> str:
    """Render the plan as Markdown."""
    out = ["## Deployment plan", "", plan.understanding, ""]
    if plan.warnings:
        out += ["> **Note:** " + w for w in plan.warnings] + [""]
    if plan.sizing:
        s = plan.sizing
        out += [
            "### Sizing",
            "",
            f"{s.model_id or 'the model'} in {s.precision}: weights {s.weights_gb:,.1f} GiB + "
            f"KV cache {s.kv_cache_gb:,.1f} GiB + overhead {s.overhead_gb:,.1f} GiB = "
            f"**{s.total_vram_gb:,.1f} GiB**; tensor parallel {s.tensor_parallel} "
            f"({s.per_gpu_gb:,.1f} GiB per GPU). GPU memory is in GiB (2^30 bytes), as GPU "
            "vendors and clouds state it.",
            "",
        ]
    # A training run is ranked by what the whole run costs, not by the hour: its options show
    # the run (hours and cost), not a month of renting them.
    priced_runs = bool(plan.gpu_recommendations) and all(
        g.run_usd is not None and g.run_hours is not None for g in plan.gpu_recommendations
    )
    # A searched batch's options are configurations priced by their run: they keep their
    # configuration columns and show a run (hours, cost) instead of a month of renting.
    runs = priced_runs and plan.configuration is None
    if runs:
        out += ["### GPU instances (cheapest run first)", "",
                "| # | provider | instance | region | GPUs | VRAM | $/hour | run time | run cost |",
                "|---|---|---|---|---|---|---|---|---|"]
        for i, g in enumerate(plan.gpu_recommendations, 1):
            out.append(
                f"| {i} | {g.provider} | {g.instance_type} | {g.region} | "
                f"{g.gpu_count:g}× {g.gpu_model} | {g.vram_total_gb:g} GiB | "
                f"{_money(g.price_hourly_usd)} | {duration(g.run_hours or 0.0)} | "
                f"{_money(g.run_usd)} |"
            )
        out += ["", _run_note(plan), ""]
    elif plan.gpu_recommendations:
        configured = _configured(plan.gpu_recommendations)
        # A row is one option: its instance count, then one instance's hardware, what the
        # option deploys on it, and one instance's price; the option's whole month is the
        # last price (what the cost table adds up).
        columns = ["#", "provider", "instance", "region", "instances", "GPUs each",
                   "VRAM each"]
        columns += ["weights", "KV cache", "TP × replicas"] if configured else []
        columns += ["$/hour each"]
        columns += ["run time", "$ a run", "tok/s"] if priced_runs else ["$/month, all", "tok/s"]
        out += [
            "### GPU instances (cheapest that fit first)",
            "",
            "| " + " | ".join(columns) + " |",
            "|" + "---|" * len(columns),
        ]
        for i, g in enumerate(plan.gpu_recommendations, 1):
            cells = [str(i), g.provider, g.instance_type, g.region, str(g.instances),
                     f"{g.gpu_count:g}× {g.gpu_model}", f"{g.vram_total_gb:g} GiB"]
            if configured:
                cells += [weights_words(g), g.kv_cache_dtype or "-", parallel_words(g)]
            cells += [_money(g.price_hourly_usd)]
            cells += (
                [duration(g.run_hours or 0.0), _money(g.run_usd)]
                if priced_runs
                else [_money(g.price_monthly_usd * g.instances)]
            )
            cells += [f"{g.est_tokens_per_s:,.0f}" if g.est_tokens_per_s else "-"]
            out.append("| " + " | ".join(cells) + " |")
        if priced_runs:
            fixed = plan.cost_estimate.job.fixed_hours if plan.cost_estimate and \
                plan.cost_estimate.job else 0.0
            out += ["", f"Run time: the batch's tokens at the option's rate, plus {fixed:g} h of "
                    "start-up, image pull and model load; $ a run = $/hour × run time, paid "
                    "on each run."]
        out.append("")
    if plan.rejected_summary:
        reasons = ", ".join(f"{n:,} {r}" for r, n in plan.rejected_summary.items())
        out += [f"Rejected candidates: {reasons}.", ""]
    if plan.model_recommendations:
        # Whether each model runs on the plan's GPUs, where the plan checked it.
        fit = any(m.fit_note for m in plan.model_recommendations)
        columns = ["model", "licence", "params (B)", "task"]
        columns += ["on this plan's GPUs"] if fit else []
        out += ["### Models", "", "| " + " | ".join([*columns, "score"]) + " |",
                "|" + "---|" * (len(columns) + 1)]
        for m in plan.model_recommendations:
            cells = [m.model_id, m.license or "-",
                     f"{m.params_b:g}" if m.params_b is not None else "-", m.pipeline_tag or "-"]
            cells += [m.fit_note or "-"] if fit else []
            out.append("| " + " | ".join([*cells, f"{m.score:.2f}"]) + " |")
        out.append("")
    if plan.serving_engine == "training stack":
        out += ["### Training stack", "", plan.serving_engine_why or "", ""]
    elif plan.serving_engine:
        out += [f"### Serving engine: {plan.serving_engine}", "", plan.serving_engine_why or "", ""]
    if plan.deployment and plan.deployment.workload == "train":
        d = plan.deployment
        hardware = "CPU only" if d.cpu_only else f"{d.gpu_count}× {d.gpu_model}"
        spread = ", data-parallel across them" if d.gpu_count > 1 else ""
        out += [
            "### Deployment files",
            "",
            f"{_sentence(d.job or 'training run')} of {d.model_id or 'your model'} on "
            f"{hardware} ({d.instance_type}){spread}, run once as a {d.launcher} "
            f"({d.engine}: {d.image}, {d.arch}); the job ends when training does.",
            "Take them away: `stack8s export THREAD --format helm|kustomize|compose|skypilot "
            "--out DIR`, or the download on the chat page.",
            "",
        ]
    elif plan.deployment:
        d = plan.deployment
        hardware = "CPU only" if d.cpu_only else f"{d.gpu_count}× {d.gpu_model}"
        flags = [f"tensor parallel {d.tensor_parallel}"]
        if d.quantization:
            flags.append(f"quantization {d.quantization}")
        if d.max_model_len:
            flags.append(f"max model length {d.max_model_len:,}")
        if d.kv_cache_dtype != "auto":
            flags.append(f"KV cache {d.kv_cache_dtype}")
        model = d.model_repo or "the workload"
        what = (
            f"running batch requests through {model}"
            if d.workload == "batch"
            else f"serving {model}"
        )
        units = "worker(s)" if d.workload == "batch" else "replica(s)"
        when = f", started daily at cron '{d.schedule}' (UTC)" if d.schedule else ""
        out += [
            "### Deployment files",
            "",
            f"{d.engine} ({d.image}, {d.arch}) {what} on {d.instance_type}, {hardware}, "
            f"{d.replicas} {units}{when}; " + ", ".join(flags) + ".",
            "Take them away: `stack8s export THREAD --format helm|kustomize|compose|skypilot "
            "--out DIR`, or the download on the chat page.",
            "",
        ]
    if plan.kubernetes_stack:
        out += ["### Kubernetes stack", "", "| chart | version | purpose |", "|---|---|---|"]
        out += [f"| {c.chart} | {c.version or '-'} | {c.purpose} |" for c in plan.kubernetes_stack]
        out.append("")
    if plan.deployment_steps:
        out += ["### Steps", ""] + [f"{i}. {s}" for i, s in enumerate(plan.deployment_steps, 1)]
        out.append("")
    if plan.cost_estimate and plan.cost_estimate.period == "run":
        c = plan.cost_estimate
        out += [
            "### Job cost (one-off, per run)",
            "",
            "| compute (the run) | storage | network | total |",
            "|---|---|---|---|",
            f"| {_money(c.compute_monthly_usd)} | {_money(c.storage_monthly_usd)} | "
            f"{_money(c.network_monthly_usd)} | **{_money(c.total_monthly_usd)}** |",
            "",
            "Paid once for the run, not every month" + _budget_words(c.within_budget) + ".",
            "",
        ]
    elif plan.cost_estimate:
        c = plan.cost_estimate
        out += [
            "### Monthly cost",
            "",
            "| compute | storage | network | total |",
            "|---|---|---|---|",
            f"| {_money(c.compute_monthly_usd)} | {_money(c.storage_monthly_usd)} | "
            f"{_money(c.network_monthly_usd)} | **{_money(c.total_monthly_usd)}** |",
            "",
        ]
    if plan.tradeoffs:
        out += ["### Tradeoffs", ""] + [f"- {t}" for t in plan.tradeoffs] + [""]
    if plan.assumptions:
        out += ["### Assumptions", ""] + [f"- {a}" for a in plan.assumptions] + [""]
    for artifact in plan.artifacts:
        out += [
            f"<details><summary>{artifact.filename}</summary>",
            "",
            "```yaml",
            artifact.content.rstrip(),
            "```",
            "</details>",
            "",
        ]
    return "\n".join(out).rstrip() + "\n"
