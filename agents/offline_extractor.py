"""Deterministic reading of a conversation into a WorkloadSpec, with no LLM.

Each user message is read on its own (``read_message``): number words become digits first,
then each concern reads its fields (agents/reading/: quantities with units, hardware, places,
vocabulary). The readings are folded in order (``merge_readings``): a later statement of a
field replaces an earlier one ("make that $8k" wins over "$6k"), a bare number in a
correction ("actually make it 25") replaces the number stated last, and providers can be
added to or dropped. Model names are matched against the catalog's ids, so only models that
exist can be named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.reading.hardware import read_hardware
from agents.reading.numbers import NUMBER, digits_for_words, to_number
from agents.reading.places import read_places
from agents.reading.quantities import (
    read_budget,
    read_latency,
    read_load,
    read_sizes,
    read_tokens,
    read_training_data,
    without_model_sizes,
)
from agents.reading.vocabulary import ModelIndex, Vocabulary, blank_names
from agents.reading.words import (
    DOMAIN_WORDS,
    KUBERNETES_WORDS,
    PIPELINE_TAG_WORDS,
    PRECISION_PATTERNS,
    TASK_WORDS,
    WEAK_INFERENCE_WORDS,
)
from agents.schemas import (
    HardwareNeeds,
    LatencyTargets,
    ModelNeeds,
    OwnHardware,
    Scale,
    TrainingData,
    WorkloadSpec,
)
from tools.regions import regions_in

__all__ = ["ModelIndex", "Reading", "merge_readings", "read_message", "to_spec"]

# A task read from a generic verb: used only when no message stated a task.
WEAK_TASK = "task_type?"
# Fields whose value a bare number in a correction may replace.
NUMERIC_PREFIXES = ("scale.", "latency.", "training.", "budget_monthly_usd", "hardware.max_gpus")
_CORRECTION = re.compile(
    r"\b(make (?:that|it)|scratch that|actually|instead|change (?:that|it) to|stretch to|"
    r"bump (?:that|it) to|go with|on second thought|correction|no wait|sorry,? (?:i meant|make))\b"
)
_BARE_NUMBER = re.compile(rf"(?<![\w.$-]){NUMBER}\s*(k)?(?![\w.%-])")
_CPU_ONLY = re.compile(
    r"\b(cpu only|cpu-only|no gpus?|without (?:a )?gpus?|cpus? (?:is|are) (?:fine|enough|ok)|"
    r"on (?:a |plain |the )?(?:plain )?cpus?\b|cpu (?:servers|instances|vms?|nodes|machines|box)|"
    r"on (?:a |plain )?(?:plain )?cpu vm)"
)
_GPU_WORDS = re.compile(r"\b(gpus?|cuda|vram)\b")
TRAINING_TASKS = ("training", "fine_tuning")
# "train from scratch", "pretrain": training of a model's own. A bare "train" ("12k chats to
# train on") in a fine-tuning chat is the same fine-tune, not a switch to pre-training.
_STRONG_TRAINING = re.compile(r"pre-?train|from scratch")
# What a training message's dataset is: a load or memory figure read at the same place is the
# same words read twice ("20k support chats" is 20,000 examples, not 20,000 users; "50GB of
# legal documents" is the text, not the GPU memory asked for).
DATASET_FIELDS = ("training.dataset_examples", "training.dataset_tokens", "training.dataset_gb")
_LICENCE = re.compile(
    r"\b(apache|mit)\b.*licen|licen[cs]ed? (?:under )?(?:apache|mit)|commercial(ly)?[- ]"
    r"(usable|friendly|use)|permissive"
)


@dataclass
class Reading:
    """Fields one message stated, as a flat mapping of dotted WorkloadSpec paths."""

    values: dict[str, Any] = field(default_factory=dict)
    positions: dict[str, int] = field(default_factory=dict)
    """Where each numeric field was stated in the message, to find the one stated last."""
    correction_number: float | None = None
    """A number the message corrects without naming its field ("actually make it 25")."""
    weak_training: bool = False
    """The task was read as training from a bare "train" ("12k chats to train on")."""
    if_training: dict[str, tuple[Any, int]] = field(default_factory=dict)
    """The dataset this message states if the chat is about training (its own words do not
    say so: "we have roughly 12k past conversations"), with positions."""

    def as_training(self) -> Reading:
        """Return the reading of this message in a training chat: its counts are the dataset."""
        if not self.if_training:
            return self
        values, positions = dict(self.values), dict(self.positions)
        for key, (value, position) in self.if_training.items():
            values[key], positions[key] = value, position
        dataset_wins(values, positions)
        return Reading(values, positions, self.correction_number, self.weak_training)


def dataset_wins(values: dict[str, Any], positions: dict[str, int]) -> None:
    """Drop the load and memory figures read from the words that state the dataset."""
    at = {positions[key] for key in DATASET_FIELDS if key in positions}
    for key in [k for k in values if k.startswith("scale.") or k == "min_vram_gb"]:
        if positions.get(key) in at:
            values.pop(key)
            positions.pop(key)


def _first_family(text: str, families: Sequence[tuple[str, tuple[str, ...]]]) -> str | None:
    for name, words in families:
        if any(re.search(r"(?<![a-z0-9])" + word, text) for word in words):
            return name
    return None


def _without_names(lowered: str, model_ids: Sequence[str]) -> str:
    """Blank out the model ids (and their names without the owner) written in ``lowered``."""
    for model_id in model_ids:
        for written in (model_id.lower(), model_id.split("/")[-1].lower()):
            lowered = lowered.replace(written, " ")
    return lowered


def read_message(text: str, vocabulary: Vocabulary) -> Reading:
    """Extract every WorkloadSpec field stated in one user message."""
    digits = digits_for_words(text)
    lowered = " " + digits.lower() + " "
    values: dict[str, Any] = {}
    positions: dict[str, int] = {}

    def take(found: dict[str, tuple[Any, int]]) -> None:
        for key, (value, position) in found.items():
            values[key] = value
            positions[key] = position

    mentions = vocabulary.models.mentions(text)
    named = list(dict.fromkeys(model_id for model_id, _ in mentions))
    if named:
        values["model_needs.named_models"] = named
    task = _first_family(lowered, TASK_WORDS)
    if task in ("fine_tuning", "training") and named:
        # A checkpoint's name ("...-finetuned-sst-2-english") says how it was made, not what
        # to do with it: read training from the words around the names.
        task = _first_family(_without_names(lowered, named), TASK_WORDS)
    if task:
        values["task_type"] = task
    elif _first_family(lowered, (("inference", WEAK_INFERENCE_WORDS),)):
        values[WEAK_TASK] = "inference"
    domain = _first_family(lowered, DOMAIN_WORDS)
    if domain:
        values["domain"] = domain
    if _CPU_ONLY.search(lowered):
        values["gpu_needed"] = False
    elif _GPU_WORDS.search(lowered):
        values["gpu_needed"] = True
    for precision, pattern in PRECISION_PATTERNS:
        if re.search(pattern, lowered):
            values["precision"] = precision
            break
    spaced = lowered.replace("-", " ")
    for tag, pattern in PIPELINE_TAG_WORDS:
        if re.search(pattern.replace("[ -]", " "), spaced):
            values["model_needs.pipeline_tag"] = tag
            break
    if "qlora" in lowered:
        values["model_needs.fine_tuning_method"] = "qlora"
    elif re.search(r"\blora\b", lowered):
        values["model_needs.fine_tuning_method"] = "lora"
    elif re.search(r"\bfull(?:-| )(?:parameter )?fine-?tun", lowered):
        values["model_needs.fine_tuning_method"] = "full"
    # "mistral 7b summarizing tickets": the 7b is the model's size, not 7 billion tickets, and
    # the "3.1" of "llama 3.1" counts nothing either.
    counted = without_model_sizes(blank_names(lowered, [name for _, name in mentions]))
    take(read_load(counted))
    take(read_tokens(counted))
    take(read_latency(counted))
    take(read_budget(counted))
    training = task in TRAINING_TASKS
    take(read_training_data(counted, training=training))
    take(read_sizes(lowered, named_model=bool(named)))
    dataset = {} if training else {
        key: found
        for key, found in read_training_data(counted, training=True).items()
        if key not in values
    }
    if (values.get("gpu_needed") is not False) and (hardware := read_hardware(digits, vocabulary)):
        take(hardware)
        if "hardware.gpu_models" in values or "own_hardware.gpu_model" in values:
            values.setdefault("gpu_needed", True)
        gpus = values.get("hardware.gpu_models") or []
        if len(gpus) > 1 and values.get("min_vram_gb"):
            # "the A100 with 80 GB, not the 40 GB one": the memory picks the variant.
            memory = vocabulary.gpu_memory_gb
            sized = [g for g in gpus if memory.get(g, 0) >= values["min_vram_gb"]]
            values["hardware.gpu_models"] = sized or gpus
    take(read_places(lowered, vocabulary.regions))
    needs = [n for n, words in KUBERNETES_WORDS.items() if any(w in lowered for w in words)]
    if needs:
        values["kubernetes_needs"] = needs
    if re.search(
        r"\b(prototype|poc|proof of concept|single (box|machine)|laptop|home ?lab|dev box)\b",
        lowered,
    ):
        values["constraints"] = "single-box start"
    if _LICENCE.search(lowered):
        values["model_needs.license_allow_list"] = ["apache-2.0", "mit"]
    if training:
        dataset_wins(values, positions)
    reading = Reading(
        values,
        {k: v for k, v in positions.items() if k.startswith(NUMERIC_PREFIXES)},
        weak_training=task == "training" and not _STRONG_TRAINING.search(lowered),
        if_training=dataset,
    )
    # Numbers inside a model's name ("Llama 3.1 8B") are not corrections.
    if _CORRECTION.search(lowered) and not reading.positions and not named:
        numbers = _BARE_NUMBER.findall(lowered)
        if len(numbers) == 1:
            raw, kilo = numbers[0]
            reading.correction_number = to_number(raw) * (1000 if kilo else 1)
    return reading


def merge_readings(readings: Iterable[Reading]) -> dict[str, Any]:
    """Fold readings in order; a later statement of a field replaces an earlier one.

    In a chat about training, every message's counts are read as the dataset, also in a
    message that does not say training itself ("we have roughly 12k past conversations").
    """
    readings = list(readings)
    merged = _fold(readings)
    if merged.get("task_type") in TRAINING_TASKS and any(r.if_training for r in readings):
        merged = _fold([reading.as_training() for reading in readings])
    return merged


def _fold(readings: Sequence[Reading]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    last_numeric: str | None = None
    for reading in readings:
        values = dict(reading.values)
        if reading.correction_number is not None and last_numeric is not None:
            kind = type(merged.get(last_numeric, 0.0))
            values[last_numeric] = kind(reading.correction_number)
        mode = values.pop("providers_mode", None)
        dropped = values.pop("providers_dropped", [])
        if "providers" in values and mode == "add":
            earlier = merged.get("providers", [])
            values["providers"] = list(dict.fromkeys([*earlier, *values["providers"]]))
        if dropped:
            base = values.get("providers", merged.get("providers", []))
            values["providers"] = [p for p in base if p not in dropped]
        if "places" in values:
            merged.pop("places", None)
        if WEAK_TASK in values and "task_type" in merged:
            values.pop(WEAK_TASK)
        if reading.weak_training and merged.get("task_type") == "fine_tuning":
            values.pop("task_type", None)
        merged.update(values)
        if reading.positions:
            last_numeric = max(reading.positions, key=lambda k: reading.positions[k])
    if "model_needs.named_models" in merged:
        merged.pop("model_needs.size_billion_params", None)
    if WEAK_TASK in merged:
        merged.setdefault("task_type", merged.pop(WEAK_TASK))
        merged.pop(WEAK_TASK, None)
    return merged


_GROUPS = {
    "model_needs": ModelNeeds,
    "scale": Scale,
    "latency": LatencyTargets,
    "hardware": HardwareNeeds,
    "own_hardware": OwnHardware,
    "training": TrainingData,
}


def to_spec(fields: dict[str, Any]) -> WorkloadSpec:
    """Build a WorkloadSpec from merged dotted fields (no defaults invented here)."""
    fields = dict(fields)
    places = fields.pop("places", None)
    if places:
        providers = fields.get("providers", [])
        found = [r for place in places for r in regions_in(place, providers)]
        fields["regions"] = list(dict.fromkeys([*fields.get("regions", []), *found]))
    top = {k: v for k, v in fields.items() if "." not in k}
    groups = {
        name: model(
            **{k.split(".", 1)[1]: v for k, v in fields.items() if k.startswith(name + ".")}
        )
        for name, model in _GROUPS.items()
    }
    return WorkloadSpec(**top, **groups)
