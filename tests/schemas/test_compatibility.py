"""The FULL_TRANSITIVE policy holds for the catalog, and the checker catches breaking changes."""

from __future__ import annotations

import copy
import json

import pytest

from schemas.catalog import SchemaCatalog
from schemas.compatibility import catalog_problems, exemplar_records, version_problems
from tests.schemas.hypothetical import catalog_with_next_version, field


def test_every_version_resolves_against_every_other():
    assert catalog_problems(SchemaCatalog.load()) == []


def test_exemplars_cover_every_enum_symbol_and_union_branch():
    latest = SchemaCatalog.load().latest("DeadLetter")
    records = exemplar_records(latest.parsed)
    symbols = field(dict(latest.definition), "reason")["type"]["symbols"]
    assert {r["reason"] for r in records} == set(symbols)
    assert {r["source_topic"] is None for r in records} == {True, False}


def _append(spec):
    return lambda definition: definition["fields"].append(spec)


def _retype(name, new_type):
    return lambda definition: field(definition, name).update(type=new_type)


def _remove(name):
    return lambda definition: definition["fields"].remove(field(definition, name))


def _enum(change):
    def apply(definition):
        change(field(definition, "reason")["type"])

    return apply


BREAKING = {
    "new field without default": (
        "SubbandFile",
        _append({"name": "beam", "type": "int", "doc": "d"}),
    ),
    "int widened to long": ("MeasurementSetReady", _retype("attempt", "long")),
    "int changed to string": ("SubbandFile", _retype("subband", "string")),
    "nullable made required": (
        "DeadLetter",
        lambda d: (field(d, "group_id").update(type="string"), field(d, "group_id").pop("default")),
    ),
    "required field removed": ("MeasurementSetReady", _remove("ms_path")),
    "enum symbol removed, no default": (
        "DeadLetter",
        _enum(lambda e: (e.pop("default"), e["symbols"].remove("LATE_SUBBAND"))),
    ),
    "nested field without default": (
        "SubbandFile",
        lambda d: field(d, "header")["type"]["fields"].append({"name": "x", "type": "double"}),
    ),
}

COMPATIBLE = {
    "optional field added": (
        "SubbandFile",
        _append({"name": "beam", "type": ["null", "int"], "default": None, "doc": "d"}),
    ),
    "field with default added": (
        "MeasurementSetReady",
        _append({"name": "calibrator", "type": "string", "default": "", "doc": "d"}),
    ),
    "optional field removed": ("DeadLetter", _remove("path")),
    "enum symbol added (enum has a default)": (
        "DeadLetter",
        _enum(lambda e: e["symbols"].append("X")),
    ),
    "doc changed": ("SubbandFile", lambda d: field(d, "size_bytes").update(doc="Bytes.")),
}


@pytest.mark.parametrize("case", sorted(BREAKING))
def test_breaking_change_is_reported(tmp_path, case):
    name, change = BREAKING[case]
    catalog = catalog_with_next_version(tmp_path, name, change)
    problems = version_problems(catalog.versions(name))
    assert problems, f"{case} was not detected"
    assert all(f"{name} v" in problem for problem in problems)
    assert catalog_problems(catalog) == problems


@pytest.mark.parametrize("case", sorted(COMPATIBLE))
def test_compatible_change_passes(tmp_path, case):
    name, change = COMPATIBLE[case]
    catalog = catalog_with_next_version(tmp_path, name, change)
    assert len(catalog.versions(name)) == 2
    assert version_problems(catalog.versions(name)) == []


def test_transitive_check_compares_non_adjacent_versions(tmp_path):
    """v2 adds a field with a default, v3 drops the default: v1 -> v3 breaks, v2 -> v3 does not."""
    catalog = catalog_with_next_version(
        tmp_path, "SubbandFile", _append({"name": "beam", "type": "int", "default": 0, "doc": "d"})
    )
    v3 = copy.deepcopy(dict(catalog.latest("SubbandFile").definition))
    del field(v3, "beam")["default"]
    (tmp_path / "avro" / "SubbandFile" / "v3.avsc").write_text(json.dumps(v3))
    problems = version_problems(SchemaCatalog.load(tmp_path / "avro").versions("SubbandFile"))
    assert any("v1 data is unreadable as v3" in p for p in problems)
    assert not any("v2 data is unreadable as v3" in p for p in problems)
