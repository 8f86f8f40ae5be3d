"""The catalog: schema files, deterministic ids and the committed registry.json."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from schemas.catalog import (
    AVRO_DIR,
    LOCAL_ID_BIT,
    CatalogError,
    SchemaCatalog,
    derive_schema_id,
    read_registry,
    registry_entries,
    update_registry,
)

EXPECTED_NAMES = {"SubbandFile", "MeasurementSetReady", "DeadLetter"}


@pytest.fixture(scope="module")
def catalog() -> SchemaCatalog:
    return SchemaCatalog.load()


def test_catalog_holds_the_three_event_schemas(catalog):
    assert set(catalog.names) == EXPECTED_NAMES
    for name in EXPECTED_NAMES:
        assert catalog.latest(name).fullname == f"org.dsa110.stream.{name}"


def test_registry_json_matches_the_schema_files(catalog):
    """A published version was edited, or a new one not recorded (python -m schemas.catalog)."""
    assert read_registry() == registry_entries(catalog)


def test_local_ids_are_distinct_and_above_any_registry_id(catalog):
    ids = [version.local_id for version in catalog]
    assert len(set(ids)) == len(ids)
    assert all(LOCAL_ID_BIT <= schema_id < 2**31 for schema_id in ids)


def test_derived_id_is_stable():
    # Changing the derivation would orphan every message already written: pin one value.
    assert derive_schema_id("org.dsa110.stream.SubbandFile", 1) == 1929921583


def _fields(schema):
    """Every (path, field) in a schema definition, nested records included."""
    for field in schema.get("fields", []):
        yield f"{schema['name']}.{field['name']}", field
        for branch in field["type"] if isinstance(field["type"], list) else [field["type"]]:
            if isinstance(branch, dict):
                nested = branch.get("items", branch)
                if isinstance(nested, dict) and nested.get("type") == "record":
                    yield from _fields(nested)
                elif branch.get("type") == "record":
                    yield from _fields(branch)


def test_every_field_has_a_doc_and_nullable_fields_default_to_null(catalog):
    for version in catalog:
        assert version.definition.get("doc"), version.name
        fields = list(_fields(version.definition))
        assert len(fields) > 10
        for path, field in fields:
            assert field.get("doc"), f"{path} has no doc"
            if isinstance(field["type"], list) and "null" in field["type"]:
                assert field["type"][0] == "null" and field.get("default", "x") is None, path


def test_nested_records_are_checked_for_docs(catalog):
    paths = {path for path, _ in _fields(catalog.latest("SubbandFile").definition)}
    assert "SubbandHeader.n_baselines" in paths
    paths = {path for path, _ in _fields(catalog.latest("MeasurementSetReady").definition)}
    assert "InputFile.mtime" in paths


def test_dead_letter_reason_has_a_default_for_old_readers(catalog):
    reason = next(
        f for f in catalog.latest("DeadLetter").definition["fields"] if f["name"] == "reason"
    )
    assert reason["type"]["default"] == "UNKNOWN"
    assert "UNKNOWN" in reason["type"]["symbols"]


def _copy_avro(tmp_path: Path) -> Path:
    target = tmp_path / "avro"
    shutil.copytree(AVRO_DIR, target)
    return target


def test_editing_a_published_version_is_refused(tmp_path):
    avro = _copy_avro(tmp_path)
    registry = tmp_path / "registry.json"
    update_registry(SchemaCatalog.load(avro), registry)
    path = avro / "SubbandFile" / "v1.avsc"
    definition = json.loads(path.read_text())
    definition["fields"][2]["type"] = "long"  # subband int -> long, in place
    path.write_text(json.dumps(definition))
    with pytest.raises(CatalogError, match="immutable"):
        update_registry(SchemaCatalog.load(avro), registry)


def test_update_registry_appends_new_versions_only(tmp_path):
    avro = _copy_avro(tmp_path)
    registry = tmp_path / "registry.json"
    assert len(update_registry(SchemaCatalog.load(avro), registry)) == 3
    shutil.copy(avro / "DeadLetter" / "v1.avsc", avro / "DeadLetter" / "v2.avsc")
    added = update_registry(SchemaCatalog.load(avro), registry)
    assert [(row["name"], row["version"]) for row in added] == [("DeadLetter", 2)]
    assert added[0]["schema_id"] == derive_schema_id("org.dsa110.stream.DeadLetter", 2)
    assert len(read_registry(registry)) == 4


def test_version_gaps_and_misnamed_records_are_rejected(tmp_path):
    avro = _copy_avro(tmp_path)
    shutil.copy(avro / "DeadLetter" / "v1.avsc", avro / "DeadLetter" / "v3.avsc")
    with pytest.raises(CatalogError, match="without gaps"):
        SchemaCatalog.load(avro)
    (avro / "DeadLetter" / "v3.avsc").unlink()
    shutil.copy(avro / "DeadLetter" / "v1.avsc", avro / "SubbandFile" / "v2.avsc")
    with pytest.raises(CatalogError, match="must be named 'SubbandFile'"):
        SchemaCatalog.load(avro)


def test_unknown_schema_name_lists_known_ones(catalog):
    with pytest.raises(KeyError, match="SubbandFile"):
        catalog.latest("Subband")


def _documented_fields(readme: str, name: str) -> set[str]:
    """First-column entries of the field table under ``### <name> (...)`` in the README."""
    section = readme.split(f"### {name} (", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE))


def _field_paths(schema, prefix=""):
    for field in schema["fields"]:
        yield prefix + field["name"]
        kind = field["type"]
        if isinstance(kind, dict) and kind.get("type") == "record":
            yield from _field_paths(kind, f"{prefix}{field['name']}.")
        items = kind.get("items") if isinstance(kind, dict) else None
        if isinstance(items, dict) and items.get("type") == "record":
            yield from _field_paths(items, f"{prefix}{field['name']}[].")


def test_readme_documents_exactly_the_fields_of_the_latest_versions(catalog):
    readme = (Path(__file__).parents[2] / "schemas" / "README.md").read_text()
    for name in catalog.names:
        latest = catalog.latest(name)
        assert f"### {name} (v{latest.version}, schema id {latest.local_id})" in readme
        expected = set(_field_paths(latest.definition))
        assert "header.n_times" in expected or name != "SubbandFile"
        assert _documented_fields(readme, name) == expected
