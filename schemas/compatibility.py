"""The compatibility policy, checked with fastavro's own schema resolution.

Policy: FULL_TRANSITIVE. Every version of a schema must be able to read data written by
every other version of it, older (backward: a new consumer reads the backlog and golden
fixtures) and newer (forward: calibration pipelines that upgrade later keep reading). In
practice: new fields need a default, only fields with a default may be removed, types
change only by Avro promotion in both directions (i.e. not at all), enums keep a default
symbol so old readers can read new symbols.

The check encodes exemplar records with the writer version and decodes them with the
reader version (``fastavro.schemaless_reader(buf, writer, reader)``). The exemplars are
built so that every union branch and every enum symbol occurs at least once, because
fastavro resolves lazily: a branch that no record takes is never checked.

``python -m schemas.compatibility`` checks the catalog and exits 1 on any problem.
"""

from __future__ import annotations

import io
import sys
import uuid
from collections.abc import Sequence
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError

from schemas.catalog import COMPATIBILITY, SchemaCatalog, SchemaVersion


def exemplar_records(schema: dict[str, Any]) -> list[Any]:
    """Records valid for ``schema`` in which every union branch and enum symbol occurs.

    Record ``n`` takes branch ``n mod len(union)`` of every union and symbol ``n mod
    len(symbols)`` of every enum; as many records are made as the widest union or enum.
    (fastavro's ``generate_many`` is random, so it could miss a branch.)
    """
    expanded = parse_schema(schema, {}, expand=True)
    count = max(2, _widest_choice(expanded))
    return [_exemplar(expanded, n) for n in range(count)]


def resolution_problems(writer: SchemaVersion, reader: SchemaVersion) -> list[str]:
    """Why data written with ``writer`` cannot be read as ``reader`` (empty list: it can)."""
    problems = []
    for index, record in enumerate(exemplar_records(writer.parsed)):
        buffer = io.BytesIO()
        schemaless_writer(buffer, writer.parsed, record)
        buffer.seek(0)
        try:
            schemaless_reader(buffer, writer.parsed, reader.parsed)
        except (SchemaResolutionError, ValueError, TypeError, KeyError, EOFError) as exc:
            problems.append(
                f"{writer.name} v{writer.version} data is unreadable as v{reader.version} "
                f"(exemplar {index}): {type(exc).__name__}: {_shorten(str(exc))}"
            )
            break
    return problems


def version_problems(versions: Sequence[SchemaVersion]) -> list[str]:
    """FULL_TRANSITIVE check of one schema's versions: every ordered pair must resolve."""
    problems = []
    for older_index, older in enumerate(versions):
        for newer in versions[older_index + 1 :]:
            problems += resolution_problems(older, newer)  # backward
            problems += resolution_problems(newer, older)  # forward
    return problems


def catalog_problems(catalog: SchemaCatalog) -> list[str]:
    """Every compatibility problem in the catalog (empty list: the policy holds)."""
    problems = []
    for name in catalog.names:
        problems += version_problems(catalog.versions(name))
    return problems


def _shorten(text: str, limit: int = 300) -> str:
    # fastavro puts both whole schemas into some messages.
    return text if len(text) <= limit else text[:limit] + " ..."


def _widest_choice(schema: Any) -> int:
    if isinstance(schema, list):
        return max([len(schema), *(_widest_choice(branch) for branch in schema)])
    if not isinstance(schema, dict):
        return 1
    kind = schema["type"]
    if kind == "enum":
        return len(schema["symbols"])
    if kind == "record":
        return max([1, *(_widest_choice(f["type"]) for f in schema["fields"])])
    if kind == "array":
        return _widest_choice(schema["items"])
    if kind == "map":
        return _widest_choice(schema["values"])
    return 1


_PRIMITIVES: dict[str, Any] = {
    "null": lambda n: None,
    "boolean": lambda n: n % 2 == 1,
    "int": lambda n: n,
    "long": lambda n: 1_700_000_000_000 + n,
    "float": lambda n: n + 0.5,
    "double": lambda n: n + 0.25,
    "bytes": lambda n: bytes([n % 256]) * 3,
    "string": lambda n: f"s{n}",
}


def _exemplar(schema: Any, n: int) -> Any:
    if isinstance(schema, list):
        return _exemplar(schema[n % len(schema)], n)
    if isinstance(schema, str):
        return _PRIMITIVES[schema](n)
    kind = schema["type"]
    if schema.get("logicalType") == "uuid":
        return str(uuid.UUID(int=n + 1))
    if kind == "record":
        return {f["name"]: _exemplar(f["type"], n) for f in schema["fields"]}
    if kind == "enum":
        return schema["symbols"][n % len(schema["symbols"])]
    if kind == "array":
        return [_exemplar(schema["items"], n)]
    if kind == "map":
        return {f"k{n}": _exemplar(schema["values"], n)}
    if kind == "fixed":
        return bytes([n % 256]) * schema["size"]
    return _exemplar(kind, n)


def main() -> int:
    """Check the catalog against the policy; print the problems."""
    problems = catalog_problems(SchemaCatalog.load())
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"all schema versions are {COMPATIBILITY} compatible")
    return 0


if __name__ == "__main__":
    sys.exit(main())
