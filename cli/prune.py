"""``stack8s prune``: remove old checkpoints and run events, once or every few hours.

Examples::

    stack8s prune --keep-last 20 --older-than 30          # once
    stack8s prune --keep-last 20 --older-than 30 --dry-run
    stack8s prune --keep-last 20 --older-than 30 --every 24   # a long-running loop

On Kubernetes, run it as a CronJob with the API's image and environment instead of a loop::

    apiVersion: batch/v1
    kind: CronJob
    metadata: {name: stack8s-prune}
    spec:
      schedule: "17 3 * * *"
      concurrencyPolicy: Forbid
      jobTemplate:
        spec:
          template:
            spec:
              restartPolicy: OnFailure
              containers:
                - name: prune
                  image: stack8s-api   # the API's image
                  envFrom: [{secretRef: {name: stack8s-env}}]   # DATABASE_URL
                  args: [stack8s, prune, --keep-last, "20", --older-than, "30"]

or from cron on a host: ``17 3 * * * cd /srv/stack8s && .venv/bin/stack8s prune
--keep-last 20 --older-than 30``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from core.db import connect, database_url
from core.settings import Settings
from graph.prune import PruneReport, prune_checkpoints


def _positive(kind: type[int] | type[float], least: float) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least:g}")
        return value

    return parse


def add_prune_parser(subparsers: Any) -> None:
    """Add ``prune`` to the ``stack8s`` subcommands."""
    prune = subparsers.add_parser(
        "prune",
        help="delete old checkpoints and run events (once, or --every HOURS)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    prune.add_argument(
        "--keep-last",
        type=_positive(int, 1),
        default=20,
        help="checkpoints kept per chat, newest first (at least 1; default 20)",
    )
    prune.add_argument(
        "--older-than",
        type=_positive(float, 0),
        default=30.0,
        metavar="DAYS",
        help="delete only checkpoints and finished runs' events older than this (default 30)",
    )
    prune.add_argument(
        "--every",
        type=_positive(float, 0.001),
        default=None,
        metavar="HOURS",
        help="keep running and prune again every HOURS (Ctrl-C stops)",
    )
    prune.add_argument("--dry-run", action="store_true", help="count only, delete nothing")
    prune.set_defaults(handler=cmd_prune)


def _format(report: PruneReport, dry_run: bool) -> str:
    verb = "would delete" if dry_run else "deleted"
    return (
        f"{verb} {report.checkpoints:,} checkpoints ({report.writes:,} writes, "
        f"{report.blobs:,} blobs) in {report.threads:,} chats and "
        f"{report.run_events:,} run events"
    )


def cmd_prune(settings: Settings, args: argparse.Namespace) -> int:
    """Prune once, or every ``--every`` hours until interrupted."""
    url = database_url(settings)
    while True:
        with connect(url) as conn:
            report = prune_checkpoints(
                conn,
                keep_last=args.keep_last,
                older_than_days=args.older_than,
                dry_run=args.dry_run,
            )
        print(_format(report, args.dry_run), flush=True)
        if args.every is None:
            return 0
        time.sleep(args.every * 3600)
