"""Hardware the user named: GPUs to rent, instance types, spot, and their own machines.

GPU names are found with the catalog's ``GpuIndex`` and replaced by a ``<gpu>`` marker, so the
count patterns read "at most 2 <gpu>s" or "3 nodes of 4x <gpu> each" whatever the card.
"""

from __future__ import annotations

import re
from typing import Any

from agents.reading.numbers import NUMBER, to_number
from agents.reading.vocabulary import Vocabulary, normalise

Found = dict[str, tuple[Any, int]]

_GPU = r"(?:<gpu>|gpus?|cards?|accelerators?)"
_MAX_GPUS = (
    re.compile(
        rf"(?:at most|no more than|not more than|up to|max(?:imum)?(?: of)?|limit(?:ed)? to|"
        rf"cap(?:ped)? at|only)\s+{NUMBER}\s*x?\s+(?:<gpu>\s+)?{_GPU}"
    ),
    # "2 GPUs max", "one GPU if possible" (a preference, read as such by _SOFT)
    re.compile(
        rf"{NUMBER}\s+{_GPU}\s+(?:max(?:imum)?|at most|tops|or fewer|or less|if (?:it fits|"
        rf"possible|we can|feasible))\b"
    ),
    re.compile(rf"\bon\s+{NUMBER}\s*x?\s*{_GPU}"),
    re.compile(rf"\b{NUMBER}\s*x\s*<gpu>"),
)
_SINGLE_GPU = re.compile(r"\b(?:a single|single|one|only one)\s+(?:<gpu>|gpu)(?![a-z0-9])")
_SOFT = re.compile(
    r"\bif (?:it fits|possible|we can|feasible|that works|it works)\b|\bideally\b|"
    r"\bpreferabl[ey]\b|\bwould be nice\b|\bif at all possible\b"
)
_SPOT_NO = re.compile(
    r"\bno (?:spot|preemptible|pre-emptible)\b|\b(?:spot|preemptible)(?: instances?| vms?)? "
    r"(?:is |are )?not (?:allowed|ok|okay|an option|acceptable)\b|\bcan'?t use spot\b|"
    r"\bon[- ]demand only\b|\bno interruptions\b|\bwithout spot\b"
)
_SPOT_YES = re.compile(
    r"\b(?:spot|preemptible|pre-emptible|interruptible)\b(?: instances?| capacity| vms?| nodes|"
    r" pricing)?\s*(?:is|are)?\s*(?:ok|okay|fine|allowed|acceptable|good)\b|"
    r"\b(?:fine|ok|okay|happy|good) with (?:spot|preemptible)\b|\buse spot\b|\bon spot\b|"
    r"\bspot (?:instances|capacity|vms) (?:to save|for)\b"
)
_OWN = re.compile(
    r"\bour own\b|\bon[- ]prem(?:ise|ises)?\b|\bin[- ]house\b|\bour racks?\b|"
    r"\bour (?:servers|cluster|machines|hardware|data ?cent(?:er|re)s?|gpus|boxes|nodes|"
    r"workstations)\b|\bwe (?:only )?have\s+(?:\d+|our own|an?)\s+(?:[a-z-]+\s+)?"
    r"(?:servers|nodes|machines|boxes|clusters?|workstations?|racks?)\b|\bself[- ]hosted on\b"
)
_NO_CLOUD = re.compile(
    r"\bnothing in the cloud\b|\bno (?:public )?cloud\b|\bnot in the cloud\b|"
    r"\bon[- ]prem(?:ise|ises)? only\b|\bcan'?t use (?:the |any )?(?:public )?cloud\b|"
    r"\bcannot use (?:the |any )?cloud\b|\bair[- ]?gapped\b|\boff the cloud\b|"
    r"\bno cloud providers?\b|\bmust stay on[- ]prem"
)
_NODES = re.compile(
    rf"{NUMBER}\s+(?:[a-z-]+\s+)?(?:servers|nodes|machines|boxes|hosts|workstations)\b"
)
_EACH = r"(?:\s+(?:each|in each|per (?:server|node|machine|box|host)|apiece))"
_PER_NODE = (
    re.compile(rf"{NUMBER}\s*x?\s*{_GPU}{_EACH}"),
    re.compile(rf"each (?:with|has|having|of them has)\s+{NUMBER}\s*x?\s*{_GPU}"),
)


def _gpu_marked(text: str, vocabulary: Vocabulary) -> tuple[str, list[list[str]]]:
    """Return normalised text with each GPU name replaced by <gpu>, and the names found."""
    haystack = normalise(text)
    spans = vocabulary.gpus.spans(haystack)
    out, names, cursor = [], [], 0
    for start, end, found in spans:
        out.append(haystack[cursor:start])
        out.append("<gpu>")
        names.append(found)
        cursor = end
    out.append(haystack[cursor:])
    return "".join(out), names


def read_hardware(text: str, vocabulary: Vocabulary) -> Found:
    """Read GPU models, GPU limits, instance types, spot, and the user's own machines."""
    marked, gpu_names = _gpu_marked(text, vocabulary)
    found: Found = {}
    own = bool(_OWN.search(marked)) or bool(_NO_CLOUD.search(marked))
    per_node = [m for p in _PER_NODE for m in p.finditer(marked)]
    if _NO_CLOUD.search(marked):
        found["own_hardware.cloud_allowed"] = (False, 0)
    if own or per_node:
        if m := _NODES.search(marked):
            found["own_hardware.nodes"] = (int(to_number(m[1])), m.start())
        if per_node:
            m = per_node[0]
            found["own_hardware.gpus_per_node"] = (int(to_number(m[1])), m.start())
        if gpu_names:
            found["own_hardware.gpu_model"] = (gpu_names[0][0], 0)
    elif gpu_names:
        names = list(dict.fromkeys(n for group in gpu_names for n in group))
        found["hardware.gpu_models"] = (names, 0)
    if not (own or per_node):
        limits = [m for p in _MAX_GPUS for m in p.finditer(marked)]
        if limits:
            m = max(limits, key=lambda m: m.start())
            found["hardware.max_gpus"] = (int(to_number(m[1])), m.start())
        elif m := _SINGLE_GPU.search(marked):
            found["hardware.max_gpus"] = (1, m.start())
        if "hardware.max_gpus" in found:
            found["hardware.max_gpus_strict"] = (not _SOFT.search(marked), 0)
    tokens = re.findall(r"[a-z0-9][a-z0-9._-]*[a-z0-9]", text.lower())
    instances = [t for t in dict.fromkeys(tokens) if t in vocabulary.instance_types]
    if instances:
        found["hardware.instance_types"] = (instances, 0)
    if _SPOT_NO.search(marked):
        found["hardware.spot_allowed"] = (False, 0)
    elif _SPOT_YES.search(marked):
        found["hardware.spot_allowed"] = (True, 0)
    return found
