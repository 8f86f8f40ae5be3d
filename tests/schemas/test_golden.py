"""Golden fixtures: bytes written by every published version still decode to the same record."""

from __future__ import annotations

import io

import pytest
from fastavro import json_reader, schemaless_reader

from schemas.catalog import SchemaCatalog
from schemas.codec import EventCodec
from schemas.golden import SAMPLE_RECORDS, avro_json, fixture_paths, write_missing_fixtures

CATALOG = SchemaCatalog.load()
VERSIONS = list(CATALOG)


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: f"{v.name}-v{v.version}")
def test_every_published_version_has_a_committed_fixture(version):
    binary, text = fixture_paths(version)
    assert binary.is_file() and text.is_file(), "run python -m schemas.golden and commit"


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: f"{v.name}-v{v.version}")
def test_current_codec_decodes_fixture_to_its_json_source(version):
    binary, text = fixture_paths(version)
    event = EventCodec().decode(binary.read_bytes())
    assert (event.schema_name, event.writer_version) == (version.name, version.version)
    # The JSON source is typed by the writer version; read it in the latest shape too.
    latest = CATALOG.latest(version.name)
    [expected] = list(json_reader(io.StringIO(text.read_text()), version.parsed, latest.parsed))
    assert isinstance(expected, dict)
    assert event.record == {k: str(v) if k == "event_id" else v for k, v in expected.items()}


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: f"{v.name}-v{v.version}")
def test_every_reader_version_decodes_every_fixture(version):
    data = fixture_paths(version)[0].read_bytes()
    for reader in CATALOG.versions(version.name):
        body = io.BytesIO(data[5:])
        record = schemaless_reader(body, version.parsed, reader.parsed)
        assert isinstance(record, dict)
        assert body.tell() == len(data) - 5
        assert set(record) == {f["name"] for f in reader.definition["fields"]}


def test_latest_fixture_is_the_sample_record_encoded():
    """The committed bytes are what today's codec writes for the sample (encoding is stable)."""
    codec = EventCodec()
    for name in CATALOG.names:
        latest = CATALOG.latest(name)
        binary, text = fixture_paths(latest)
        assert codec.encode(name, SAMPLE_RECORDS[name]) == binary.read_bytes()
        assert avro_json(latest, SAMPLE_RECORDS[name]) == text.read_text()


def test_generator_never_overwrites_and_writes_only_missing(tmp_path):
    codec = EventCodec()
    written = write_missing_fixtures(CATALOG, codec, tmp_path)
    assert len(written) == 2 * len(CATALOG.names)
    marker = tmp_path / "SubbandFile-v1.bin"
    marker.write_bytes(b"committed")
    assert write_missing_fixtures(CATALOG, codec, tmp_path) == []
    assert marker.read_bytes() == b"committed"
