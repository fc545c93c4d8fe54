"""``stack8s eval``: run the eval scenarios and gate on the thresholds.

Wire it into ``cli.main.build_parser`` with ``add_eval_parser(sub)``; the handler follows the
other commands' ``handler(settings, args) -> int`` convention.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from cli.login import load_access_token
from core.db import connect, create_pool, database_url
from core.embeddings import get_embedder
from core.ingest import catalogs_empty, ingest
from core.migrate import apply_migrations
from core.settings import Settings

# The eval runner imports the whole graph (seconds): only ``stack8s eval`` loads it, so that
# every other command (db, export, serve's start) starts without it.
if TYPE_CHECKING:
    from evals.run import EvalConfig, EvalOutcome

DEFAULT_OUT = Path("evals/out")
PROVIDERS = get_args(Settings.model_fields["llm_provider"].annotation)


def add_eval_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``eval`` subcommand to the ``stack8s`` parser's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "eval",
        help="run the eval scenarios through the graph and gate on evals/thresholds.toml",
        description="Run the eval scenarios, write report.md, results.json and plots, and exit "
        "1 when a gated metric is under its threshold.",
    )
    parser.add_argument(
        "--provider", choices=PROVIDERS, default="offline", help="LLM provider (default offline)"
    )
    parser.add_argument("--model", default=None, help="model name for the provider")
    parser.add_argument("--base-url", default=None, help="openai_compatible endpoint")
    parser.add_argument(
        "--api-key-env",
        default="LLM_API_KEY",
        help="environment variable holding the provider key, used for this run only",
    )
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="TAG",
        help="run scenarios with this tag, category or id (globs allowed; repeatable)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="run every scenario N times")
    parser.add_argument("--concurrency", type=int, default=4, help="conversations at once")
    parser.add_argument(
        "--via-api",
        action="store_true",
        help="drive a running server's chat API instead (with the token of stack8s login, if any)",
    )
    parser.add_argument(
        "--api-url",
        default="http://127.0.0.1:8000",
        help="the running server --via-api talks to (default http://127.0.0.1:8000)",
    )
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="folder for the report")
    parser.add_argument(
        "--scenarios", default=None, help="folder of scenario YAML (default evals/scenarios)"
    )
    parser.add_argument(
        "--thresholds",
        default=None,
        help="TOML of the metric gates the run must pass (default evals/thresholds.toml)",
    )
    parser.add_argument(
        "--no-compression-ab", action="store_true", help="skip the optimizer on/off A/B"
    )
    parser.add_argument("--no-plots", action="store_true", help="write no plot images")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(handler=cmd_eval)
    return parser


def config_from_args(args: argparse.Namespace) -> EvalConfig:
    """Turn the command line into an eval configuration.

    Raises:
        ValueError: On a repeat or concurrency below 1.

    """
    from evals.run import THRESHOLDS_PATH, EvalConfig
    from evals.scenario import SCENARIO_DIR

    if args.repeat < 1 or args.concurrency < 1:
        raise ValueError("--repeat and --concurrency must be at least 1")
    key = os.environ.get(args.api_key_env) if args.provider != "offline" else None
    return EvalConfig(
        provider=args.provider,
        model=args.model,
        base_url=args.base_url,
        api_key=key or None,
        filters=tuple(args.filter),
        repeat=args.repeat,
        concurrency=args.concurrency,
        via_api=args.via_api,
        api_url=args.api_url,
        api_token=load_access_token() if args.via_api else None,
        out_dir=Path(args.out),
        scenario_dir=Path(args.scenarios) if args.scenarios else SCENARIO_DIR,
        thresholds_path=Path(args.thresholds) if args.thresholds else THRESHOLDS_PATH,
        compression_ab=not args.no_compression_ab,
        show_progress=not args.quiet,
        plots=not args.no_plots,
    )


def check_provider(settings: Settings, config: EvalConfig) -> None:
    """Refuse to label an offline run as a model's: a missing key must not fall back silently.

    Raises:
        ValueError: If the provider cannot be used as configured (e.g. no key).

    """
    if config.via_api or config.provider == "offline":
        return
    from agents.llm import select_llm

    selection = select_llm(
        settings.model_copy(update={"llm_fallback_provider": None}),
        provider=config.provider,
        model=config.model,
        base_url=config.base_url,
        request_key=config.api_key,
    )
    if selection.is_offline:
        raise ValueError(
            f"no key for --provider {config.provider}: put it in the environment variable "
            "named by --api-key-env (default LLM_API_KEY)"
        )


def _prepare_database(settings: Settings) -> str:
    url = database_url(settings)
    with connect(url) as conn:
        apply_migrations(conn)
        if catalogs_empty(conn):
            print("catalogs are empty: ingesting the shipped catalogs")
            ingest(conn, get_embedder(settings), cache_ttl_days=settings.embeddings_cache_ttl_days)
    return url


async def _run_in_process(settings: Settings, url: str, config: EvalConfig) -> EvalOutcome:
    from core.resources import Resources
    from evals.run import run_eval

    pool = create_pool(url, settings)
    await pool.open()
    resources = Resources(settings, pool, get_embedder(settings))
    try:
        return await run_eval(config, resources)
    finally:
        await pool.close()


def _print_summary(outcome: EvalOutcome) -> None:
    results = outcome.results
    print(f"{'metric':<18} {'value':>8} {'floor':>8}")
    for row in results["gate"]["thresholds"]:
        value = "n/a" if row["value"] is None else f"{100 * row['value']:.1f}%"
        mark = "" if row["ok"] else "  FAIL"
        print(f"{row['metric']:<18} {value:>8} {100 * row['threshold']:>7.1f}%{mark}")
    known = results["known_failures"]
    if known:
        print(f"known failures: {len(known)} (scored apart; see the report)")
    for note in results["meta"]["notes"]:
        print(f"note: {note}")
    verdict = "passed" if outcome.passed else "FAILED"
    print(f"gate {verdict}; report: {outcome.out_dir / 'report.md'}")


def cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    """Run the eval; exit 0 when the gate passes, 1 when a metric is under its floor."""
    from evals.run import run_eval
    from evals.scenario import load_scenarios

    config = config_from_args(args)
    check_provider(settings, config)
    if not load_scenarios(config.scenario_dir, config.filters):
        raise ValueError(f"no scenario matches --filter {' '.join(config.filters)}")
    if config.via_api:
        outcome = asyncio.run(run_eval(config))
    else:
        url = _prepare_database(settings)
        outcome = asyncio.run(_run_in_process(settings, url, config))
    _print_summary(outcome)
    return outcome.exit_code
