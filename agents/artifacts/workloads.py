"""What kind of Kubernetes workload runs a plan: a server, a batch Job, or a training job.

Serving runs as a Deployment; an offline batch (a speech backlog transcribed once) as an
Indexed Job; training as the job kind of the operator the plan's stack installs (KubeRay's
RayJob, the Kubeflow training operator's PyTorchJob), else a plain Job.
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


def workload_for(spec: WorkloadSpec, engine: str) -> Workload:
    """Return serve, train, or batch: a speech backlog transcribed once runs as a Job."""
    if engine == "training stack":
        return "train"
    if spec.task_type == "batch" and spec.domain == "speech" and engine == "vLLM":
        return "batch"
    return "serve"


def launcher_for(plan: DeploymentPlan) -> Launcher:
    """Return the kind that runs training: the operator the plan's stack installs, else Job."""
    charts = [c.chart.lower() for c in plan.kubernetes_stack]
    for name, launcher in TRAINING_OPERATORS:
        if any(name in chart for chart in charts):
            return launcher
    return "Job"
