"""The part of SkyPilot's task schema that generated plans use, as a JSON schema.

Read from SkyPilot 0.14.1's ``sky/utils/schemas.py`` (``get_task_schema`` and
``get_resources_schema``) and restated for the fields our task files write. The package
itself is not a dev dependency: installing it pins click 8.1.8 and uvicorn 0.35, older than
the ones the app runs on. Unknown top-level and resources keys are rejected, as SkyPilot does.
"""

from __future__ import annotations

from typing import Any

# SkyPilot's constants.ALL_CLOUDS (0.14.1), the values ``resources.cloud`` may take.
CLOUDS = (
    "aws", "azure", "gcp", "ibm", "lambda", "scp", "oci", "kubernetes", "runpod", "vast",
    "vsphere", "cudo", "fluidstack", "paperspace", "primeintellect", "do", "nebius", "ssh",
    "slurm", "hyperbolic", "seeweb", "shadeform", "yotta", "mithril", "verda",
)  # fmt: skip

_STRING_OR_NUMBER = {"anyOf": [{"type": "string"}, {"type": "number"}]}

RESOURCES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "cloud": {"type": "string", "enum": list(CLOUDS)},
        "region": {"type": "string"},
        "zone": {"type": "string"},
        "instance_type": {"type": "string"},
        "cpus": _STRING_OR_NUMBER,
        "memory": _STRING_OR_NUMBER,
        "accelerators": {
            "anyOf": [
                {"type": "string"},
                {"type": "object", "additionalProperties": {"type": ["number", "null"]}},
                {"type": "array", "items": {"type": "string"}},
            ]
        },
        "use_spot": {"type": "boolean"},
        "disk_size": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        "ports": {
            "anyOf": [
                {"type": "string"},
                {"type": "integer"},
                {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                {"type": "null"},
            ]
        },
        "image_id": {"anyOf": [{"type": "string"}, {"type": "object"}, {"type": "null"}]},
    },
}

TASK_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "workdir": {"type": "string"},
        "num_nodes": {"type": "integer"},
        "resources": RESOURCES_SCHEMA,
        "setup": {"type": "string"},
        "run": {"type": "string"},
        "envs": {
            "type": "object",
            "patternProperties": {"^[a-zA-Z_][a-zA-Z0-9_]*$": {"type": ["string", "null"]}},
            "additionalProperties": False,
        },
        "secrets": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
    },
}
