"""YAML out: every file is built as data and dumped, so it always parses."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

# libyaml's C emitter: the pure-Python one costs tens of milliseconds a plan.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _text(dumper: Any, value: str) -> Any:
    # A script or a README in a literal block reads as it runs, not as one escaped line.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


yaml.add_representer(str, _text, Dumper=_DUMPER)


def dump(data: Any) -> str:
    """Return one YAML document, keys in the order written."""
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False)


def dump_all(documents: Iterable[Any]) -> str:
    """Return several YAML documents."""
    return yaml.dump_all(list(documents), Dumper=_DUMPER, sort_keys=False)
