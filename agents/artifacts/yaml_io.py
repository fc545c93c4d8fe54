"""YAML out: every file is built as data and dumped, so it always parses."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

# libyaml's C emitter: the pure-Python one costs tens of milliseconds a plan.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump(data: Any) -> str:
    """Return one YAML document, keys in the order written."""
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False)


def dump_all(documents: Iterable[Any]) -> str:
    """Return several YAML documents."""
    return yaml.dump_all(list(documents), Dumper=_DUMPER, sort_keys=False)
