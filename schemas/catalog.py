"""The schema catalog: every published version of every event schema, with its schema id.

Schemas live in ``schemas/avro/<Name>/v<N>.avsc``; a published version is never edited,
a change is a new file ``v<N+1>.avsc`` (see ``schemas/README.md``). Without a Schema
Registry the wire-format schema id of ``(name, version)`` is :func:`derive_schema_id`,
recorded in ``schemas/registry.json`` together with the version's fingerprint so that a
test catches both an edited published version and a drifting id.

Run ``python -m schemas.catalog`` after adding a version: it appends the new entries to
``registry.json`` and refuses to change existing ones.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

#: Directory holding ``<Name>/v<N>.avsc``.
AVRO_DIR = Path(__file__).parent / "avro"
#: Committed table of ``(name, version) -> schema id, fingerprint``.
REGISTRY_FILE = Path(__file__).parent / "registry.json"
#: Namespace of every event schema.
NAMESPACE = "org.dsa110.stream"
#: Compatibility required between all versions of one schema (see README).
COMPATIBILITY = "FULL_TRANSITIVE"
#: Every local schema id has this bit set (and no higher one).
LOCAL_ID_BIT = 1 << 30

_VERSION_FILE = re.compile(r"^v(?P<version>[1-9][0-9]*)\.avsc$")


class CatalogError(RuntimeError):
    """The schema files and ``registry.json`` disagree, or a schema file is invalid."""


def derive_schema_id(fullname: str, version: int) -> int:
    """Deterministic local schema id: bit 30 set, bits 0-29 from SHA-256(``"<fullname>/v<N>"``).

    The id is a positive signed 32-bit integer, as the Confluent wire format expects, and
    lies in [2**30, 2**31): far above the small sequential ids a Schema Registry hands out,
    so local and registry ids never meet. Collisions are checked when the catalog loads.
    """
    digest = hashlib.sha256(f"{fullname}/v{version}".encode()).digest()
    return LOCAL_ID_BIT | (int.from_bytes(digest[:4], "big") & (LOCAL_ID_BIT - 1))


@dataclass(frozen=True)
class SchemaVersion:
    """One published version of one event schema."""

    name: str
    version: int
    definition: Mapping[str, Any]
    path: Path

    @property
    def fullname(self) -> str:
        """Avro full name, e.g. ``org.dsa110.stream.SubbandFile``."""
        return f"{self.definition['namespace']}.{self.definition['name']}"

    @cached_property
    def parsed(self) -> dict[str, Any]:
        """The schema parsed by fastavro (each version with its own named-type table)."""
        parsed = parse_schema(copy.deepcopy(dict(self.definition)), {})
        if not isinstance(parsed, dict):
            raise CatalogError(f"{self.path}: top-level schema must be a record")
        return parsed

    @property
    def schema_str(self) -> str:
        """The schema as JSON text, as registered in a Schema Registry."""
        return json.dumps(self.definition, separators=(",", ":"))

    @property
    def local_id(self) -> int:
        """Schema id used on the wire when no Schema Registry is configured."""
        return derive_schema_id(self.fullname, self.version)

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the Avro parsing canonical form (ignores docs, defaults, order of keys)."""
        canonical = to_parsing_canonical_form(self.parsed)
        return str(fingerprint(canonical, "SHA-256"))


@dataclass(frozen=True)
class SchemaCatalog:
    """All versions of all event schemas, indexed by name, version and local id."""

    versions_by_name: Mapping[str, tuple[SchemaVersion, ...]]
    _by_local_id: Mapping[int, SchemaVersion] = field(repr=False)

    @classmethod
    def load(cls, avro_dir: Path = AVRO_DIR) -> SchemaCatalog:
        """Read and parse every ``<Name>/v<N>.avsc`` under ``avro_dir``."""
        by_name: dict[str, tuple[SchemaVersion, ...]] = {}
        for schema_dir in sorted(p for p in avro_dir.iterdir() if p.is_dir()):
            versions = sorted(
                (_load_version(schema_dir.name, path) for path in schema_dir.glob("*.avsc")),
                key=lambda v: v.version,
            )
            if versions:
                by_name[schema_dir.name] = tuple(versions)
        if not by_name:
            raise CatalogError(f"no schemas found under {avro_dir}")
        return cls.from_versions(by_name)

    @classmethod
    def from_versions(cls, by_name: Mapping[str, tuple[SchemaVersion, ...]]) -> SchemaCatalog:
        """Build a catalog from already-loaded versions (e.g. a test's hypothetical v2)."""
        by_id: dict[int, SchemaVersion] = {}
        for name, versions in by_name.items():
            numbers = [v.version for v in versions]
            if numbers != list(range(1, len(versions) + 1)):
                raise CatalogError(f"{name}: versions must be 1..N without gaps, got {numbers}")
            for version in versions:
                other = by_id.setdefault(version.local_id, version)
                if other is not version:
                    raise CatalogError(
                        f"schema id collision: {other.name} v{other.version} and "
                        f"{version.name} v{version.version} both derive {version.local_id}"
                    )
        return cls(versions_by_name=dict(by_name), _by_local_id=by_id)

    @property
    def names(self) -> tuple[str, ...]:
        """Schema names, e.g. ``("DeadLetter", "MeasurementSetReady", "SubbandFile")``."""
        return tuple(self.versions_by_name)

    def versions(self, name: str) -> tuple[SchemaVersion, ...]:
        """All versions of ``name``, oldest first."""
        try:
            return self.versions_by_name[name]
        except KeyError:
            known = ", ".join(self.names)
            raise KeyError(f"unknown schema name {name!r}; known: {known}") from None

    def latest(self, name: str) -> SchemaVersion:
        """The newest version of ``name``: what producers write and readers resolve to."""
        return self.versions(name)[-1]

    def by_local_id(self, schema_id: int) -> SchemaVersion | None:
        """The version whose deterministic id is ``schema_id``, if any."""
        return self._by_local_id.get(schema_id)

    def by_fullname(self, fullname: str) -> tuple[SchemaVersion, ...]:
        """All versions of the schema whose Avro full name is ``fullname`` (may be empty)."""
        for versions in self.versions_by_name.values():
            if versions[0].fullname == fullname:
                return versions
        return ()

    def __iter__(self) -> Iterator[SchemaVersion]:
        for versions in self.versions_by_name.values():
            yield from versions


def _load_version(name: str, path: Path) -> SchemaVersion:
    match = _VERSION_FILE.match(path.name)
    if match is None:
        raise CatalogError(f"{path}: schema files must be named v<N>.avsc")
    try:
        definition = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{path}: invalid JSON: {exc}") from exc
    if definition.get("name") != name or definition.get("namespace") != NAMESPACE:
        raise CatalogError(
            f"{path}: record must be named {name!r} in namespace {NAMESPACE!r}, got "
            f"{definition.get('name')!r} in {definition.get('namespace')!r}"
        )
    version = SchemaVersion(name, int(match["version"]), definition, path)
    try:
        version.parsed  # noqa: B018 - parse now so a bad file fails at load, not at first use
    except Exception as exc:  # fastavro raises several unrelated types for bad schemas
        raise CatalogError(f"{path}: not a valid Avro schema: {exc}") from exc
    return version


def registry_entries(catalog: SchemaCatalog) -> list[dict[str, Any]]:
    """The rows ``registry.json`` must hold for ``catalog``."""
    return [
        {
            "name": v.name,
            "version": v.version,
            "schema_id": v.local_id,
            "fingerprint_sha256": v.fingerprint,
        }
        for v in catalog
    ]


def read_registry(path: Path = REGISTRY_FILE) -> list[dict[str, Any]]:
    """The committed rows of ``registry.json``."""
    entries: list[dict[str, Any]] = json.loads(path.read_text())["schemas"]
    return entries


def update_registry(catalog: SchemaCatalog, path: Path = REGISTRY_FILE) -> list[dict[str, Any]]:
    """Append rows for new versions to ``registry.json``; never change existing rows.

    Returns the rows added. Raises :class:`CatalogError` when a committed row no longer
    matches its schema file (a published version was edited).
    """
    committed = read_registry(path) if path.exists() else []
    by_key = {(row["name"], row["version"]): row for row in committed}
    added = []
    for row in registry_entries(catalog):
        old = by_key.get((row["name"], row["version"]))
        if old is None:
            added.append(row)
        elif old != row:
            raise CatalogError(
                f"{row['name']} v{row['version']} differs from registry.json ({old} != {row}): "
                "published versions are immutable; add a new version instead"
            )
    document = {
        "compatibility": COMPATIBILITY,
        "schema_id": "2**30 | (first 4 bytes of sha256('<namespace>.<Name>/v<version>') % 2**30)",
        "schemas": committed + added,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return added


def main() -> int:
    """Append new schema versions to ``registry.json``."""
    added = update_registry(SchemaCatalog.load())
    for row in added:
        print(f"added {row['name']} v{row['version']} as schema id {row['schema_id']}")
    if not added:
        print("registry.json is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
