"""Build catalogs with a hypothetical next version of a schema, for evolution tests."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from schemas.catalog import AVRO_DIR, SchemaCatalog


def field(definition: dict[str, Any], name: str) -> dict[str, Any]:
    """The field ``name`` of a record definition."""
    return next(f for f in definition["fields"] if f["name"] == name)


def catalog_with_next_version(
    tmp_path: Path, name: str, change: Callable[[dict[str, Any]], object]
) -> SchemaCatalog:
    """The real catalog plus ``v<N+1>`` of ``name``: the latest definition after ``change``."""
    avro = tmp_path / "avro"
    shutil.copytree(AVRO_DIR, avro)
    latest = SchemaCatalog.load(avro).latest(name)
    definition = copy.deepcopy(dict(latest.definition))
    change(definition)
    (avro / name / f"v{latest.version + 1}.avsc").write_text(json.dumps(definition, indent=1))
    return SchemaCatalog.load(avro)
