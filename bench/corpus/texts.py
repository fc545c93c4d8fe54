"""The words of the generated chats: digressions, small talk, tool results, acknowledgements.

User lines here must read as no WorkloadSpec field at all (the generator's test checks it);
assistant lines are free, since the extractor reads only what the user says.
"""

from __future__ import annotations

import random
from typing import Any

SYSTEM_PROMPT = (
    "You are Stack8s, a deployment planner for AI workloads. Ask for what is missing, "
    "ground every instance, model and chart in the catalogs, and show the cost math."
)

CLARIFY = (
    "Thanks, that is a good start. To size this properly I need a few more things. "
    "How many people will use it at the same time, and what does peak traffic look like? "
    "Is there a monthly budget you must stay under? "
    "Which cloud providers and regions are allowed, and are there data residency rules?"
)

CLOSINGS = (
    "Thanks, please put the final plan together now.",
    "Great, that should be everything. Please write up the final plan.",
    "OK, I think we have covered it all. What is your final recommendation?",
)

SMALLTALK = (
    ("Thanks, that helps a lot.", "Glad it helps. Let me know what else you want to pin down."),
    ("Makes sense, go on.", "Sure. I will keep collecting the constraints and then size it."),
    (
        "Sorry, I was in a meeting. Where were we?",
        "No problem. We were collecting the sizing inputs; everything so far is noted above.",
    ),
    ("Interesting, I did not know that.", "It surprises many teams; the details matter at scale."),
)

# (user question, assistant answer): questions that wander away from the spec.
DIGRESSIONS: list[tuple[str, str]] = [
    (
        "How do rolling updates work when a new version of the model comes out?",
        "Rolling updates replace pods a few at a time. The Deployment keeps the old ReplicaSet "
        "serving while new pods start, and the readiness probe decides when a new pod may take "
        "traffic. For model servers the readiness probe should only pass once the weights are "
        "loaded and a warm-up request has completed, otherwise the first users hit a cold pod.\n\n"
        "Set maxUnavailable to 0 and maxSurge to 1 when capacity is tight: you never drop below "
        "the current replica count, at the price of needing room for one extra pod. With large "
        "weights, pulling the image and loading the model can take minutes, so progressDeadline"
        "Seconds should be generous.\n\n"
        "If a release misbehaves, `kubectl rollout undo` returns to the previous ReplicaSet, "
        "which is still cached on the nodes, so rollback is much faster than rollout.",
    ),
    (
        "What is the difference between tensor parallelism and pipeline parallelism?",
        "Tensor parallelism splits each layer's matrices across devices: every device holds a "
        "slice of every layer, and they exchange partial results after each layer. It needs a "
        "fast interconnect such as NVLink, and it lowers latency because all devices work on "
        "the same step at once.\n\n"
        "Pipeline parallelism gives each device a contiguous block of layers. Activations flow "
        "from one stage to the next, so the interconnect matters less, but a single request "
        "waits for every stage in turn; micro-batching keeps the stages busy.\n\n"
        "For serving, tensor parallelism inside one node is the usual choice. Pipeline "
        "parallelism appears when a model does not fit in one node at all.",
    ),
    (
        "Can you explain how autoscaling decides when to add a node?",
        "There are two loops. The Horizontal Pod Autoscaler adds pods when a metric, such as "
        "queue depth or requests in flight, crosses its target. When new pods cannot be "
        "scheduled because no node has room, they stay Pending, and the Cluster Autoscaler "
        "(or Karpenter) reacts to those Pending pods by adding a node that fits them.\n\n"
        "For accelerator nodes the second loop is slow: a new machine has to boot, join the "
        "cluster, install drivers and pull a large image. Expect several minutes. That is why "
        "teams keep a small buffer of warm capacity, or scale on a leading signal such as "
        "queue growth instead of utilisation.\n\n"
        "Scale-down is deliberately conservative: a node is removed only after it has been "
        "underused for a while and its pods can move elsewhere.",
    ),
    (
        "How long does a cold start usually take for a big model?",
        "It is dominated by three steps: pulling the container image, reading the weights from "
        "storage, and copying them into device memory. Images with the framework are often "
        "10 GB or more; weights for a 70B model in 16-bit are around 140 GB.\n\n"
        "From object storage at a few hundred MB/s that is several minutes. A node-local NVMe "
        "cache or a pre-populated persistent volume brings it down to tens of seconds. Some "
        "engines also stream weights directly to the device, which overlaps the steps.\n\n"
        "The practical advice is to keep at least one replica warm at all times and to cache "
        "weights on the nodes.",
    ),
    (
        "Is there anything we should know about spot instances and preemption?",
        "Spot capacity is cheap because it can be taken back with short notice, typically two "
        "minutes on the big providers. For stateless inference that is manageable if you run "
        "several replicas across zones and handle the termination notice by draining the pod.\n\n"
        "For long jobs, checkpoint often enough that losing a node costs minutes, not hours. "
        "Mixed node pools, with an on-demand baseline and spot for burst, are a common "
        "compromise.\n\n"
        "Availability of the largest accelerator types on spot is often poor, so plan for "
        "fallbacks rather than assuming the capacity is there.",
    ),
    (
        "What happens to in-flight requests during a node drain?",
        "A drain evicts pods respecting PodDisruptionBudgets. Each evicted pod receives SIGTERM "
        "and gets terminationGracePeriodSeconds to finish. The endpoint is removed from the "
        "Service first, so new requests stop arriving, while requests already in flight can "
        "complete if the server shuts down gracefully.\n\n"
        "Streaming responses are the tricky part: a long generation can outlast a short grace "
        "period. Set the grace period above your longest expected response and make the server "
        "stop accepting new work on SIGTERM.",
    ),
    (
        "Out of curiosity, how is the attention cache laid out in memory?",
        "Each layer stores a key and a value vector per position and per attention head group. "
        "Memory grows linearly with the number of positions and with the number of sequences "
        "decoded at once, which is why long prompts and high concurrency compete for the same "
        "memory.\n\n"
        "Paged layouts split that cache into fixed-size blocks that are allocated on demand, "
        "like virtual memory pages. That removes fragmentation and lets the server pack many "
        "more sequences into the same memory, and it makes prefix sharing cheap.",
    ),
    (
        "Do you have a rule of thumb for the disk size of the model cache?",
        "Take the size of every set of weights you may load, add the container images, and "
        "double it so that a new version can be downloaded while the old one is still in use. "
        "For a single large model that often lands between 300 and 500 GB per node.\n\n"
        "Use local NVMe where the instance has it; network volumes are fine for the cache but "
        "slow for the first load.",
    ),
    (
        "Should we worry about data transfer between zones?",
        "Usually only at scale. Cross-zone traffic is billed per GB on most providers, and a "
        "chatty setup where the gateway, the model server and the database sit in different "
        "zones can add up. Responses are small, so the bigger items are weight downloads and "
        "logs.\n\n"
        "Keep the model servers and their cache in the same zone where possible, and use "
        "topology-aware routing so that traffic prefers local endpoints.",
    ),
    (
        "How do you usually back up the configuration?",
        "Everything declarative lives in Git: Helm values, Kustomize overlays and the cluster "
        "add-ons. A GitOps controller such as Argo CD or Flux applies it, so the repository is "
        "the backup and the audit log at once.\n\n"
        "Secrets are the exception: keep them in a secret manager and sync them in, rather "
        "than committing them. For stateful pieces, schedule volume snapshots and test a "
        "restore at least once a quarter.",
    ),
    (
        "What does continuous batching actually change?",
        "Without it, the server waits for a whole batch to finish before starting the next, "
        "so short requests wait for long ones. Continuous batching adds and removes sequences "
        "at every decoding step, which keeps the device busy and cuts queueing delay.\n\n"
        "The effect on throughput is large, often several times, and it is the main reason to "
        "prefer a modern serving engine over a plain framework server.",
    ),
    (
        "How would we roll back if the new release misbehaves?",
        "Keep the previous release's image and values around. With Helm, `helm rollback` "
        "returns to the last good revision; with GitOps you revert the commit and the "
        "controller converges.\n\n"
        "Pair that with a canary: route a small share of traffic to the new version, watch "
        "error rate and latency, and promote only when both hold.",
    ),
]

_INSTANCES = (
    ("aws", "p5.48xlarge", "H100", 8, 80, 98.32),
    ("aws", "p4d.24xlarge", "A100", 8, 40, 32.77),
    ("aws", "g6e.12xlarge", "L40S", 4, 48, 10.49),
    ("aws", "g5.12xlarge", "A10G", 4, 24, 5.67),
    ("gcp", "a3-highgpu-8g", "H100", 8, 80, 88.25),
    ("gcp", "a2-ultragpu-1g", "A100", 1, 80, 5.07),
    ("gcp", "g2-standard-48", "L4", 4, 24, 4.00),
    ("azure", "Standard_ND96isr_H100_v5", "H100", 8, 80, 98.32),
    ("azure", "Standard_NC24ads_A100_v4", "A100", 1, 80, 3.67),
    ("azure", "Standard_NV36ads_A10_v5", "A10", 1, 24, 3.20),
)

_CHARTS = (
    ("vllm", "vllm/vllm-stack", "serving engine with an OpenAI-compatible API"),
    ("kube-prometheus-stack", "prometheus-community", "metrics, alerts and dashboards"),
    ("ingress-nginx", "kubernetes", "ingress controller"),
    ("qdrant", "qdrant", "vector database"),
    ("mlflow", "community-charts", "experiment tracking"),
    ("cert-manager", "jetstack", "TLS certificates"),
    ("keda", "kedacore", "event-driven autoscaling"),
)


def acknowledge(rng: random.Random, label: dict[str, Any], corrected: bool = False) -> str:
    """Return an assistant acknowledgement that restates what is known so far."""
    known = []
    if "budget_monthly_usd" in label:
        known.append(f"a budget of ${label['budget_monthly_usd']:,.0f} per month")
    if "scale.concurrent_users" in label:
        known.append(f"{label['scale.concurrent_users']} concurrent users")
    if "providers" in label:
        known.append("providers " + ", ".join(label["providers"]))
    if "regions" in label:
        known.append("region " + ", ".join(label["regions"]))
    if "scale.context_length" in label:
        known.append(f"{label['scale.context_length']} tokens of context")
    opener = (
        "Updated, thanks for the correction."
        if corrected
        else rng.choice(("Got it, noted.", "Thanks, that is clear.", "Understood."))
    )
    summary = ("So far I have " + "; ".join(known) + ".") if known else ""
    tail = rng.choice(
        (
            "I will use these numbers when I size the instances.",
            "That narrows the candidate instances considerably.",
            "Let me know if anything else changes.",
        )
    )
    return " ".join(p for p in (opener, summary, tail) if p)


def tool_exchange(
    rng: random.Random, label: dict[str, Any]
) -> tuple[str, dict[str, Any], Any, str]:
    """Return one tool call: name, arguments, a long JSON result and the assistant's comment."""
    kind = rng.choice(("search_instances", "search_models", "estimate_cost", "search_charts"))
    providers = label.get("providers", ["aws", "gcp", "azure"])
    if kind == "search_instances":
        rows = [
            {
                "provider": p,
                "instance_type": t,
                "gpu_model": g,
                "gpu_count": c,
                "gpu_memory_gb_per_gpu": m,
                "price_hourly_usd": price,
                "price_monthly_usd": round(price * 730, 2),
                "regions": rng.randint(3, 14),
            }
            for p, t, g, c, m, price in _INSTANCES
        ]
        rng.shuffle(rows)
        cheapest = min(rows, key=lambda r: r["price_hourly_usd"])
        table = "\n".join(
            f"| {r['instance_type']} | {r['gpu_count']}x {r['gpu_model']} | "
            f"${r['price_monthly_usd']:,.0f} |"
            for r in rows[:4]
        )
        comment = (
            f"The search returned {len(rows)} instance types. The cheapest that fits is "
            f"{cheapest['instance_type']} at ${cheapest['price_monthly_usd']:,.0f} per month.\n\n"
            "| instance | GPUs | monthly |\n|---|---|---|\n" + table
        )
        return (
            kind,
            {"providers": providers, "min_vram_gb": rng.choice((24, 48, 80))},
            rows,
            comment,
        )
    if kind == "search_models":
        rows = [
            {
                "model_id": m,
                "license": lic,
                "params_billion": p,
                "score": round(rng.random(), 3),
                "why": "matches the task and fits the memory budget at the requested precision",
            }
            for m, lic, p in (
                ("meta-llama/Llama-3.1-8B-Instruct", "llama3.1", 8.03),
                ("Qwen/Qwen2.5-7B-Instruct", "apache-2.0", 7.62),
                ("mistralai/Mistral-7B-Instruct-v0.3", "apache-2.0", 7.25),
                ("google/gemma-2-9b-it", "gemma", 9.24),
                ("microsoft/phi-4", "mit", 14.7),
            )
        ]
        comment = (
            "Here are the closest catalog models with their licences. Apache-2.0 and MIT are the "
            "permissive ones; the Llama and Gemma licences add usage terms."
        )
        return kind, {"query": "instruction following, permissive", "limit": 5}, rows, comment
    if kind == "estimate_cost":
        price = rng.choice((3.67, 5.07, 10.49, 32.77))
        result = {
            "compute_monthly_usd": round(price * 730, 2),
            "storage_monthly_usd": 120.0,
            "network_monthly_usd": 85.5,
            "hours_per_month": 730,
            "assumptions": ["on-demand pricing", "one replica always on", "500 GB of volumes"],
        }
        comment = (
            f"At ${price}/h the compute alone is ${price * 730:,.0f} per month; storage and "
            "network add about $205. Here is the values file I would start from:\n\n"
            "```yaml\nreplicaCount: 1\nresources:\n  limits:\n    nvidia.com/gpu: 1\n"
            "autoscaling:\n  enabled: true\n  minReplicas: 1\n  maxReplicas: 4\n```"
        )
        return kind, {"price_hourly_usd": price, "replicas": 1}, result, comment
    rows = [
        {
            "chart": c,
            "repo": r,
            "purpose": p,
            "version": f"{rng.randint(0, 5)}.{rng.randint(0, 30)}.0",
        }
        for c, r, p in _CHARTS
    ]
    comment = (
        "For the platform I would use ingress-nginx with cert-manager in front, the serving "
        "chart for the model, and kube-prometheus-stack for dashboards and alerts."
    )
    return kind, {"query": "serving, monitoring, ingress"}, rows, comment
