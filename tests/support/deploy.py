"""Helpers for the deploy tests: strict validation of rendered objects, Kubernetes kinds and CRDs alike."""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate

#: The Kubernetes releases the chart is validated against: its minimum (Chart.yaml kubeVersion) and the newest.
KUBERNETES_VERSIONS = ("1.27.0", kubernetes_validate.utils.latest_version())

#: openAPIV3Schema of the custom resources the manifests use, taken from their projects' CRDs
#: (each file names its source and commit).
CRD_SCHEMAS = Path(__file__).parent / "golden" / "crds"


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """Strict schemas by (apiVersion, kind)."""
    schemas = {}
    for path in sorted(CRD_SCHEMAS.glob("*.json.gz")):
        crd = json.loads(gzip.decompress(path.read_bytes()))
        schemas[(crd["apiVersion"], crd["kind"])] = strict(crd["schema"])
    return schemas


def strict(schema: Any) -> Any:
    """The schema with unknown fields rejected wherever it lists its fields (the API server would prune them)."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    copy = {key: strict(value) for key, value in schema.items()}
    if "properties" in copy and "additionalProperties" not in copy and not copy.get(
            "x-kubernetes-preserve-unknown-fields"):
        copy["additionalProperties"] = False
    return copy


def validate(obj: dict[str, Any]) -> None:
    """Validate one object strictly: Kubernetes kinds against every release in KUBERNETES_VERSIONS, custom
    resources against their CRD's schema. Raises on the first error; an unknown kind is an error too."""
    key = (obj["apiVersion"], obj["kind"])
    if key in crd_schemas():
        jsonschema.Draft7Validator(crd_schemas()[key]).validate(obj)
        name = obj["metadata"]["name"]
        assert len(name) <= 63 and name == name.lower(), name
        return
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)
