"""Validate Kubernetes YAML against the API's OpenAPI schemas, offline.

Reusable by any test that produces manifests (the shipped kustomize overlays and Helm chart
today, the manifests of generated deployment plans later):

    from tests.infra.k8s_validation import validate_k8s_yaml

    errors = validate_k8s_yaml(text)                    # [] when every document is valid
    errors = validate_k8s_yaml(text, kubernetes_version="1.35",
                               skip_kinds={"cert-manager.io/v1/Certificate": "CRD, no schema"})

The schemas come from the kubernetes-validate package (one directory per Kubernetes minor
version, with "-strict" variants that reject unknown fields). Every schema error of every
document is reported, not only the first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

import jsonschema
import yaml
from kubernetes_validate import utils as kv
from referencing import Registry, Resource

# The oldest minor version the manifests must run on; tests also check the newest shipped.
DEFAULT_KUBERNETES_VERSION = "1.33"

# metadata.name of most kinds must be an RFC 1123 subdomain (the API server rejects others;
# the OpenAPI schemas do not say so).
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _schema_version(kubernetes_version: str) -> str:
    """Return the newest shipped schema version not newer than the requested minor version."""
    wanted = tuple(int(part) for part in kv.major_minor(kubernetes_version.lstrip("v")).split("."))
    shipped = [v for v in kv.all_versions() if _minor(v) <= wanted]
    if not shipped:
        raise ValueError(f"kubernetes-validate ships no schemas for {kubernetes_version}")
    if _minor(shipped[-1]) != wanted:
        raise ValueError(
            f"kubernetes-validate {kv.__version__} ships no schemas for {kubernetes_version}; "
            f"newest is {kv.latest_version()}"
        )
    return shipped[-1]


def _minor(version: str) -> tuple[int, int]:
    major, minor = kv.major_minor(version).split(".")[:2]
    return int(major), int(minor)


@lru_cache(maxsize=256)
def _validator(
    schema_version: str, strict: bool, kind: str, api_version: str
) -> jsonschema.protocols.Validator | None:
    """Build (once) the validator of one kind, or None when no schema exists for it."""
    schema_dir = f"kubernetes-json-schema/v{schema_version}-local" + ("-strict" if strict else "")
    # The package's file naming: rbac.authorization.k8s.io/v1 -> rbac-v1; v1 -> v1.
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = kv.schema_contents(
            f"{schema_dir}/{kind.lower()}-{group_version}.json", schema_version
        )
    except FileNotFoundError:
        return None
    definitions = _definitions(schema_dir, schema_version)
    registry: Registry = Resource.from_contents(schema) @ Registry()
    registry = definitions @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


@lru_cache(maxsize=8)
def _definitions(schema_dir: str, schema_version: str) -> Resource:
    return Resource.from_contents(
        kv.schema_contents(f"{schema_dir}/_definitions.json", schema_version)
    )


# PyYAML's safe loading with libyaml's parser when the wheel has it: the same documents (the
# constructor and resolver are the safe ones either way), parsed many times faster, which
# counts when the eval's plans are checked by the hundred.
SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load_all(yaml_text: str) -> Iterator[Any]:
    """Yield the documents of a YAML stream, as ``yaml.safe_load_all`` does."""
    return yaml.load_all(yaml_text, Loader=SafeLoader)  # noqa: S506 (a safe loader)


def _documents(yaml_text: str) -> Iterator[tuple[int, Any]]:
    """Yield (1-based index, document), expanding ``kind: List`` and skipping empty ones."""
    for index, doc in enumerate(safe_load_all(yaml_text), start=1):
        if doc is None:
            continue
        if isinstance(doc, dict) and doc.get("kind") == "List" and "items" in doc:
            for item in doc.get("items") or []:
                yield index, item
        else:
            yield index, doc


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "(root)"


def validate_k8s_yaml(
    yaml_text: str,
    *,
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION,
    strict: bool = True,
    skip_kinds: Mapping[str, str] | None = None,
) -> list[str]:
    """Validate every document of a (multi-document) YAML stream.

    Args:
        yaml_text: One or more Kubernetes objects, ``---``-separated; ``kind: List`` expands.
        kubernetes_version: A minor version the package ships schemas for ("1.33", "v1.35").
        strict: Reject fields the schema does not define (typos, wrong nesting).
        skip_kinds: ``"<apiVersion>/<Kind>" -> reason`` for kinds without a schema (custom
            resources). A kind with no schema that is not listed here is an error, so nothing
            passes unvalidated by accident. A reason must be given.

    Returns:
        One human-readable line per problem, ``"<Kind>/<name> (document N): <path>: <message>"``;
        empty when all documents are valid.

    Raises:
        ValueError: The version has no shipped schemas, or a skip has no reason.
    """
    skips = dict(skip_kinds or {})
    for key, reason in skips.items():
        if not reason or not reason.strip():
            raise ValueError(f"skip_kinds[{key!r}] needs a reason")
    schema_version = _schema_version(kubernetes_version)

    try:
        documents = list(_documents(yaml_text))
    except yaml.YAMLError as exc:
        return [f"YAML does not parse: {exc}"]

    errors: list[str] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    for index, doc in documents:
        if not isinstance(doc, dict):
            errors.append(f"document {index}: not a mapping but {type(doc).__name__}")
            continue
        api_version, kind = doc.get("apiVersion"), doc.get("kind")
        raw_metadata = doc.get("metadata")
        metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
        name = str(metadata.get("name", ""))
        label = f"{kind or '?'}/{name or '?'} (document {index})"
        if not isinstance(api_version, str) or not isinstance(kind, str):
            errors.append(f"{label}: apiVersion and kind must be strings")
            continue
        if not name:
            errors.append(f"{label}: metadata.name is required")
        elif not _DNS_SUBDOMAIN.match(name) or len(name) > 253:
            errors.append(f"{label}: metadata.name {name!r} is not a DNS subdomain name")
        identity = (api_version.split("/")[0], kind, str(metadata.get("namespace", "")), name)
        if identity in seen:
            errors.append(f"{label}: duplicates document {seen[identity]}")
        seen.setdefault(identity, index)

        if f"{api_version}/{kind}" in skips:
            continue
        validator = _validator(schema_version, strict, kind, api_version)
        if validator is None:
            errors.append(
                f"{label}: no schema for {api_version}/{kind} in Kubernetes {schema_version}"
                " (a removed API, a typo, or a custom resource to list in skip_kinds)"
            )
            continue
        for error in sorted(
            validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path]
        ):
            errors.append(f"{label}: {_where(error)}: {error.message}")
    return errors
