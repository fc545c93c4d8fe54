"""``stack8s export THREAD --format F --out DIR``: the latest plan of a chat as files to run.

The files come from the plan's deployment configuration, the same one the chat shows:
``helm install``, ``kubectl apply -k``, ``docker compose up`` or ``sky launch`` them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

from agents.artifacts.build import FORMATS, ExportFormat
from agents.artifacts.bundle import HOW_TO_RUN, write_export
from agents.schemas import DeploymentPlan
from core.settings import Settings


async def latest_plan(settings: Settings, url: str, thread_id: str) -> DeploymentPlan | None:
    """Return the thread's latest plan from its checkpoints, or None when it has none."""
    from core.db import create_pool
    from graph.checkpointer import compile_with_postgres

    pool = create_pool(url, settings)
    await pool.open()
    try:
        graph = await compile_with_postgres(pool)
        snapshot = await graph.aget_state({"configurable": {"thread_id": thread_id}})
    finally:
        await pool.close()
    values: dict[str, Any] = dict(snapshot.values or {})
    return DeploymentPlan.model_validate(values["plan"]) if values.get("plan") else None


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    """Write the thread's latest plan in one format; exit 1 when there is nothing to write."""
    from cli.main import _prepare_database

    with contextlib.redirect_stdout(sys.stderr):
        url = _prepare_database(settings, ingest_when_empty=False)
    plan = asyncio.run(latest_plan(settings, url, args.thread))
    if plan is None:
        print(f"stack8s: thread {args.thread} has no plan", file=sys.stderr)
        return 1
    if plan.deployment is None:
        reasons = "; ".join(w for w in plan.warnings if "withheld" in w) or "no configuration"
        print(f"stack8s: the plan has no deployment files ({reasons})", file=sys.stderr)
        return 1
    fmt: ExportFormat = args.format
    out = Path(args.out)
    for path in write_export(plan.deployment, fmt, out):
        print(path)
    for note in plan.deployment.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"run: {HOW_TO_RUN[fmt].format(name=plan.deployment.name, dir=out)}", file=sys.stderr)
    return 0


def add_export_parser(sub: Any) -> None:
    """Add ``export`` to the command line."""
    export = sub.add_parser(
        "export",
        help="write a chat's latest plan as deployable files",
        description="Write the latest plan of a chat as a directory to deploy: a Helm chart "
        "(helm install), a kustomize base (kubectl apply -k), a compose file (docker compose "
        "up) or a SkyPilot task (sky launch). Every file comes from the plan's deployment "
        "configuration; a plan with no instance that fits has no files, and says why.",
    )
    export.add_argument("thread", help="the chat's thread id (stack8s plan prints it)")
    export.add_argument("--format", required=True, choices=FORMATS, help="what to write")
    export.add_argument("--out", required=True, help="directory to write the files into")
    export.set_defaults(handler=cmd_export)
