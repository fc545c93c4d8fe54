"""What kind of Kubernetes workload runs a plan: a server, a batch Job, or a training job.

Serving runs as a Deployment; an offline batch (a speech backlog transcribed once, documents
run through an LLM) as an Indexed Job, started by a CronJob when the load is stated per day;
training as the job kind of the operator the plan's stack installs (KubeRay's RayJob, the
Kubeflow training operator's PyTorchJob), else a plain Job.
"""

from __future__ import annotations

from agents.artifacts.target import Launcher, Workload
from agents.schemas import DeploymentPlan, WorkloadSpec

# Operators whose jobs run training, by the chart that installs them (most specific first).
TRAINING_OPERATORS: tuple[tuple[str, Launcher], ...] = (
    ("training-operator", "PyTorchJob"),
    ("kubeflow-trainer", "PyTorchJob"),
    ("kuberay", "RayJob"),
)


# A daily batch starts at 01:00 UTC: done by the working day in Europe and the Americas at the
# throughput planned (its day of tokens in a few hours), and clear of daytime traffic.
NIGHTLY_SCHEDULE = "0 1 * * *"
BATCH_TIME_ZONE = "Etc/UTC"


def workload_for(spec: WorkloadSpec, engine: str) -> Workload:
    """Return serve, train, or batch: a batch of audio or documents runs as a Job on vLLM.

    A batch has no endpoint to keep up: vLLM runs the requests and the Job ends, so the GPUs
    are paid for the hours the batch takes, as the plan prices it.
    """
    if engine == "training stack":
        return "train"
    if spec.task_type == "batch" and spec.domain in ("speech", "llm") and engine == "vLLM":
        return "batch"
    return "serve"


def batch_schedule(spec: WorkloadSpec) -> str | None:
    """Return the cron schedule of a batch stated per day (documents or tokens a day), else None."""
    if spec.scale.documents_per_day or spec.scale.tokens_per_day:
        return NIGHTLY_SCHEDULE
    return None


def launcher_for(plan: DeploymentPlan) -> Launcher:
    """Return the kind that runs training: the operator the plan's stack installs, else Job."""
    charts = [c.chart.lower() for c in plan.kubernetes_stack]
    for name, launcher in TRAINING_OPERATORS:
        if any(name in chart for chart in charts):
            return launcher
    return "Job"
