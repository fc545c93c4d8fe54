"""The shipped catalog files: their columns, types and keys, and a strict parser.

A malformed file is rejected as a whole with the file, line and column named, so that
ingestion never loads a catalog half-way.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from core.settings import PROJECT_ROOT

DATA_DIR = PROJECT_ROOT / "data"

Kind = Literal["text", "float", "int", "bool", "list"]


class CatalogFileError(ValueError):
    """A catalog file that cannot be loaded, with where and why."""

    def __init__(self, path: Path, line: int, column: str | None, message: str) -> None:
        self.path = path
        self.line = line
        self.column = column
        where = f"{path.name}:{line}" + (f": column '{column}'" if column else "")
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Column:
    """One CSV column: name, type, whether required, lower bound, and value when blank."""

    name: str
    kind: Kind = "text"
    required: bool = False
    minimum: float | None = None
    default: Any = None


@dataclass(frozen=True)
class CatalogFile:
    """A catalog CSV and the table it fills."""

    name: str
    filename: str
    table: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @property
    def column_names(self) -> list[str]:
        """Return the column names in file order."""
        return [c.name for c in self.columns]


def _text(*names: str, required: bool = False) -> tuple[Column, ...]:
    return tuple(Column(n, "text", required) for n in names)


def _num(*names: str, kind: Kind = "float") -> tuple[Column, ...]:
    return tuple(Column(n, kind, False, 0) for n in names)


INSTANCES = CatalogFile(
    name="instances",
    filename="instances.csv",
    table="cloud.instances",
    columns=(
        *_text("provider", "instance_type", "region", required=True),
        *_num("vcpus", "memory_gb"),
        Column("gpu_model"),
        # Blank means a CPU-only instance: no GPUs, no GPU memory.
        Column("gpu_count", "float", False, 0, 0.0),
        *_num("gpu_memory_gb_per_gpu", "price_hourly_usd", "spot_price_hourly_usd"),
        Column("gpu_memory_gb_total", "float", False, 0, 0.0),
        Column("catalog_source", required=True),
    ),
    key=("provider", "instance_type", "region"),
)

GPUS = CatalogFile(
    name="gpus",
    filename="gpus.csv",
    table="cloud.gpus",
    columns=(
        *_text("gpu_model", "vendor", required=True),
        *_num("memory_gb"),
        Column("memory_type"),
        *_num("memory_bandwidth_gbps", "fp16_bf16_dense_tflops", "fp8_dense_tflops"),
        *_num("int8_dense_tops", "tdp_watts"),
        *_text("interconnect", "architecture", "compute_capability", "notes", "source"),
    ),
    key=("gpu_model",),
)

CHARTS = CatalogFile(
    name="charts",
    filename="helm_charts.csv",
    table="k8s.charts",
    columns=(
        Column("name", required=True),
        *_text("version", "app_version", "description"),
        Column("keywords", "list"),
        *_text("home", "source", "category", "license"),
        Column("deprecated", "bool"),
        Column("dependencies", "list"),
        Column("kube_version"),
        Column("chart_repo", required=True),
        Column("chart_path"),
    ),
    key=("name", "chart_repo"),
)

MODELS = CatalogFile(
    name="models",
    filename="hf_models.csv",
    table="hf.models",
    columns=(
        Column("model_id", required=True),
        *_text("pipeline_tag", "license"),
        *_num("params_billion"),
        Column("library"),
        *_num("context_length", kind="int"),
        *_num("min_vram_gb_fp16"),
        Column("description"),
        *_num("active_params_billion"),
        *_num("downloads", "likes", kind="int"),
    ),
    key=("model_id",),
)

ARCHITECTURES = CatalogFile(
    name="architectures",
    filename="llm_architectures.csv",
    table="hf.architectures",
    columns=(
        Column("model_id", required=True),
        Column("architecture"),
        Column("num_hidden_layers", "int", True, 1),
        Column("hidden_size", "int", True, 1),
        *_num("intermediate_size", kind="int"),
        Column("num_attention_heads", "int", True, 1),
        Column("num_key_value_heads", "int", True, 1),
        Column("head_dim", "int", True, 1),
        *_num("vocab_size", "max_position_embeddings", kind="int"),
        Column("tie_word_embeddings", "bool"),
        Column("is_moe", "bool"),
        *_num("num_experts", "num_experts_per_tok", kind="int"),
        *_num("params_billion_total", "params_billion_active"),
        Column("native_dtype"),
        *_num("sliding_window", "kv_lora_rank", kind="int"),
        *_text("notes", "source"),
    ),
    key=("model_id",),
)

# Load order matters only for foreign keys: models before the cards that point at them.
CATALOG_FILES: tuple[CatalogFile, ...] = (GPUS, INSTANCES, CHARTS, MODELS, ARCHITECTURES)

_BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def _parse_float(raw: str) -> float:
    value = float(raw)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("not a finite number")
    return value


def _parse_int(raw: str) -> int:
    value = float(raw)
    if not value.is_integer():
        raise ValueError("not a whole number")
    return int(value)


def _parse_bool(raw: str) -> bool:
    try:
        return _BOOLEANS[raw.lower()]
    except KeyError:
        raise ValueError("expected true or false") from None


def _parse_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(";") if item.strip()]


_PARSERS: dict[Kind, Callable[[str], Any]] = {
    "text": str,
    "float": _parse_float,
    "int": _parse_int,
    "bool": _parse_bool,
    "list": _parse_list,
}


@dataclass(frozen=True)
class ParsedCatalog:
    """The rows of one catalog file, validated, with the file's digest."""

    spec: CatalogFile
    rows: list[dict[str, Any]]
    sha256: str


def parse_catalog(spec: CatalogFile, path: Path) -> ParsedCatalog:
    """Read and validate every row of ``path``; raise CatalogFileError on the first fault."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CatalogFileError(path, line, None, "not valid UTF-8") from exc
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header != spec.column_names:
        missing = [c for c in spec.column_names if c not in (header or [])]
        extra = [c for c in (header or []) if c not in spec.column_names]
        raise CatalogFileError(
            path,
            1,
            None,
            f"header does not match: missing {missing or '-'}, unexpected {extra or '-'}",
        )
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[Any, ...], int] = {}
    for values in reader:
        line = reader.line_num
        if not values:
            continue
        if len(values) != len(spec.columns):
            raise CatalogFileError(
                path, line, None, f"expected {len(spec.columns)} fields, found {len(values)}"
            )
        row = {
            column.name: _parse_cell(path, line, column, value.strip())
            for column, value in zip(spec.columns, values, strict=True)
        }
        key = tuple(row[k] for k in spec.key)
        if key in seen:
            raise CatalogFileError(
                path, line, None, f"duplicate key {key} (first on line {seen[key]})"
            )
        seen[key] = line
        rows.append(row)
    return ParsedCatalog(spec, rows, hashlib.sha256(raw).hexdigest())


def _parse_cell(path: Path, line: int, column: Column, value: str) -> Any:
    if value == "":
        if column.required:
            raise CatalogFileError(path, line, column.name, "a value is required")
        if column.default is not None:
            return column.default
        return [] if column.kind == "list" else False if column.kind == "bool" else None
    try:
        parsed = _PARSERS[column.kind](value)
    except ValueError as exc:
        raise CatalogFileError(path, line, column.name, f"{value!r}: {exc}") from None
    if column.minimum is not None and parsed < column.minimum:
        raise CatalogFileError(path, line, column.name, f"{value!r} is below {column.minimum:g}")
    return parsed
