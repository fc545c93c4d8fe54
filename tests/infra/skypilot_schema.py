"""SkyPilot's own task-schema check, run from the installed ``skypilot`` package.

`sky launch` validates a task file with ``sky.utils.schemas.get_task_schema()`` and the
validator class of ``sky.utils.validator`` (Draft 7 plus SkyPilot's case-insensitive enums),
after dropping top-level keys whose value is null. This module runs those modules, as
installed, to check the task files we generate.

The package is installed with ``--no-deps`` (Makefile): its pins (click < 8.2, uvicorn < 0.36)
are older than the app's, and importing ``sky`` itself starts SkyPilot's client (paramiko,
SQLAlchemy, alembic, psycopg2 ...). So ``sky`` is registered here as a bare package, and:
- the schema's own modules (``schemas``, ``validator``, ``constants``, ``kubernetes_enums``)
  are imported as they are, strictly;
- the modules the schema functions reach into for enum values and registries (volume and
  storage types, load-balancing policies, spot placers, server daemons, autostop modes) are
  executed statement by statement from their installed files, skipping statements that need
  a client dependency that is absent and bare calls (side effects such as creating ~/.sky
  directories). The registries the task schema reads are checked to be
  non-empty (``schema_sources``), so a skipped definition cannot shrink the schema silently.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.abc
import importlib.machinery
import importlib.metadata
import importlib.util
import os
import sys
import types
from pathlib import Path
from typing import Any

INSTALL_HINT = "pip install --no-deps skypilot==0.14.1 (the Makefile's install step does it)"

# Imported normally: the schema itself and the modules it needs whole.
_STRICT = {
    "sky.skylet.constants",
    "sky.setup_files.dependencies",
    "sky.utils.kubernetes_enums",
    "sky.utils.schemas",
    "sky.utils.validator",
}


class _DefinitionsLoader(importlib.abc.Loader):
    """Execute a module's top-level statements one by one, skipping those that fail."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        tree = ast.parse(self.path.read_text(), filename=str(self.path))
        for statement in tree.body:
            if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
                # A bare call at module level is a side effect (os.makedirs(~/.sky/...),
                # atexit hooks, logging), never a definition the schema reads.
                continue
            code = compile(ast.Module(body=[statement], type_ignores=[]), str(self.path), "exec")
            try:
                exec(code, module.__dict__)  # SkyPilot's installed source
            except Exception:  # a client-only dependency is absent
                continue


class _SkyFinder(importlib.abc.MetaPathFinder):
    """Find ``sky.*`` modules in the installed package; load the non-schema ones leniently."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def find_spec(
        self, fullname: str, path: Any = None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith("sky.") or fullname in _STRICT:
            return None
        relative = Path(*fullname.split(".")[1:])
        package = self.root / relative / "__init__.py"
        module = self.root / relative.with_suffix(".py")
        if package.is_file():
            spec = importlib.util.spec_from_file_location(
                fullname, package, loader=_DefinitionsLoader(package),
                submodule_search_locations=[str(package.parent)],
            )  # fmt: skip
        elif module.is_file():
            spec = importlib.util.spec_from_file_location(
                fullname, module, loader=_DefinitionsLoader(module)
            )
        elif (self.root / relative).is_dir():
            spec = importlib.machinery.ModuleSpec(fullname, None, is_package=True)
            spec.submodule_search_locations = [str(self.root / relative)]
        else:
            return None
        return spec


@functools.cache
def _schemas() -> types.ModuleType:
    """Return SkyPilot's ``sky.utils.schemas``, loaded once."""
    spec = importlib.util.find_spec("sky")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the skypilot package is not installed: {INSTALL_HINT}")
    root = Path(next(iter(spec.submodule_search_locations)))
    if "sky" not in sys.modules:
        package = types.ModuleType("sky")
        package.__path__ = [str(root)]
        package.__version__ = importlib.metadata.version("skypilot")  # type: ignore[attr-defined]
        package.__commit__ = ""  # type: ignore[attr-defined]
        sys.modules["sky"] = package
        sys.meta_path.insert(0, _SkyFinder(root))
    schemas = importlib.import_module("sky.utils.schemas")
    # Validate as the API server does (it runs every `sky launch`): strict once its plugins
    # have loaded. A bare client lets unknown keys through for the server to judge.
    os.environ.setdefault(schemas.constants.ENV_VAR_IS_SKYPILOT_SERVER, "1")
    plugins = importlib.import_module("sky.server.plugins")
    plugins._plugins_loaded = True
    return schemas


@functools.cache
def task_schema() -> dict[str, Any]:
    """Return SkyPilot's JSON schema of a task file."""
    return _schemas().get_task_schema()


def schema_sources() -> dict[str, list[str]]:
    """Return the registries and enums the task schema is built from (all must be non-empty)."""
    _schemas()

    def module(name: str) -> Any:
        return importlib.import_module(name)

    return {
        "clouds": list(module("sky.skylet.constants").ALL_CLOUDS),
        "autostop wait modes": module("sky.skylet.autostop_lib").AutostopWaitFor.supported_modes(),
        "volume types": [t.value for t in module("sky.utils.volume").VolumeType],
        "store types": [t.value for t in module("sky.data.storage").StoreType],
        "storage modes": [t.value for t in module("sky.data.storage").StorageMode],
        "load balancing policies": list(module("sky.serve.load_balancing_policies").LB_POLICIES),
        "spot placers": list(module("sky.serve.spot_placer").SPOT_PLACERS),
        "server daemons": [d.id for d in module("sky.server.daemons").INTERNAL_REQUEST_DAEMONS],
    }


def _errors(schema: dict[str, Any], config: dict[str, Any], where: str) -> list[str]:
    validator = importlib.import_module("sky.utils.validator")
    # SkyPilot drops null keys first (YAML's empty fields load as None).
    config = {k: v for k, v in config.items() if v is not None}
    checker = validator.get_schema_validator()(schema)
    errors = sorted(checker.iter_errors(config), key=lambda e: list(e.path))
    return [f"{where}{e.json_path[1:]}: {e.message}" for e in errors]


def task_errors(task: dict[str, Any]) -> list[str]:
    """Return the errors ``sky launch`` would report for this task, as SkyPilot checks it.

    SkyPilot checks a task in two steps (``Task.from_yaml_config``, then
    ``Resources.from_yaml_config``): the task schema, whose ``resources`` is any object,
    then the resources schema with the ``gpus`` alias read as ``accelerators``.
    """
    schemas = _schemas()
    errors = _errors(task_schema(), task, "task")
    resources = dict(task.get("resources") or {})
    if "gpus" in resources and "accelerators" not in resources:
        resources["accelerators"] = resources.pop("gpus")
    return errors + _errors(schemas.get_resources_schema(), resources, "resources")
