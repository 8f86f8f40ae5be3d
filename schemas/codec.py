"""Encode and decode events in the Confluent wire format.

Wire format (as used by Confluent serializers and the Rubin alert stream)::

    byte 0      magic byte 0
    bytes 1-4   schema id, big-endian signed 32-bit
    bytes 5-    Avro binary encoding of the record (no container, no schema)

Producers write the latest version of a schema (unless pinned, see EventCodec).
Readers decode with the writer's schema (found by id) and resolve to the latest
version they know, so a consumer always sees records in the newest shape: fields
added later get their defaults, unknown enum symbols become the enum default.

Schema ids come from the catalog (``schemas/registry.json``, deterministic) or, when a
Schema Registry URL is configured, from the registry (subject = the record's full name,
RecordNameStrategy; see README). A payload that cannot be decoded raises a subclass of
:class:`UndecodableEvent`, which the consumer sends to the dead-letter topic; a registry
that cannot be reached raises :class:`SchemaRegistryUnavailable`, which is transient and
must be retried, never dead-lettered.
"""

from __future__ import annotations

import io
import json
import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError

from schemas.catalog import SchemaCatalog, SchemaVersion

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import SchemaRegistryClient

MAGIC_BYTE = 0
#: Magic byte + 4-byte schema id.
HEADER = struct.Struct(">bi")


class UndecodableEvent(ValueError):
    """A Kafka payload that is not a valid event; permanent, route it to the dead-letter topic."""

    #: Short machine-readable name of the failure, for logs and metrics.
    code = "UNDECODABLE"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadMagicByte(UndecodableEvent):
    """The first byte is not the Confluent magic byte 0 (not our wire format)."""

    code = "BAD_MAGIC_BYTE"


class UnknownSchemaId(UndecodableEvent):
    """The schema id is neither in the catalog nor in the Schema Registry, or names no event."""

    code = "UNKNOWN_SCHEMA_ID"


class TruncatedPayload(UndecodableEvent):
    """The payload ends before the wire header or the Avro record is complete."""

    code = "TRUNCATED_PAYLOAD"


class MalformedPayload(UndecodableEvent):
    """The Avro body is not a valid encoding of the writer schema (bad UTF-8, trailing bytes...)."""

    code = "MALFORMED_PAYLOAD"


class IncompatibleSchema(UndecodableEvent):
    """The writer schema cannot be resolved to this reader's latest version."""

    code = "INCOMPATIBLE_SCHEMA"


class SchemaRegistryUnavailable(RuntimeError):
    """The Schema Registry could not be asked (network, 5xx, auth): transient, retry later."""


class InvalidEvent(ValueError):
    """A record given to :meth:`EventCodec.encode` does not match its schema (a caller bug)."""


@dataclass(frozen=True)
class DecodedEvent:
    """A decoded event, resolved to the latest version of its schema."""

    schema_name: str
    schema_id: int
    record: dict[str, Any]
    #: Version of the schema the producer wrote with (the record itself is in the latest shape).
    writer_version: int


class EventCodec:
    """Encode records to, and decode them from, the Confluent wire format.

    ``registry_url=None`` uses the deterministic ids of ``schemas/registry.json``. With a
    URL, ``confluent_kafka.schema_registry.SchemaRegistryClient`` registers the latest
    version of each schema on first use and looks ids up when decoding (``mock://...``
    gives confluent-kafka's in-memory registry). ``registry_config`` adds client
    properties (e.g. ``basic.auth.user.info``); ``registry_client`` injects a ready client
    (tests share one mock registry between a producer's and a consumer's codec).

    ``write_versions`` pins the version written per schema name (default: the latest).
    Without a registry a reader can only decode versions it ships, so a new version is
    rolled out in two steps: readers first (writers pinned to the old version), then
    writers (see README, "Rolling out a new version").
    """

    def __init__(
        self,
        registry_url: str | None = None,
        *,
        registry_config: Mapping[str, Any] | None = None,
        registry_client: SchemaRegistryClient | None = None,
        catalog: SchemaCatalog | None = None,
        write_versions: Mapping[str, int] | None = None,
    ) -> None:
        self.catalog = catalog if catalog is not None else SchemaCatalog.load()
        self._pinned = dict(write_versions or {})
        if registry_client is None and registry_url is not None:
            registry_client = _new_registry_client(registry_url, registry_config or {})
        self._registry = registry_client
        self._write_ids: dict[str, int] = {}
        self._writers_by_id: dict[int, tuple[SchemaVersion, dict[str, Any]]] = {}

    @property
    def uses_registry(self) -> bool:
        """Whether schema ids come from a Schema Registry."""
        return self._registry is not None

    def write_version(self, schema_name: str) -> SchemaVersion:
        """The version :meth:`encode` writes: the latest, unless pinned by ``write_versions``."""
        pinned = self._pinned.get(schema_name)
        if pinned is None:
            return self.catalog.latest(schema_name)
        versions = self.catalog.versions(schema_name)
        if not 1 <= pinned <= len(versions):
            raise KeyError(f"{schema_name} has no version {pinned}")
        return versions[pinned - 1]

    def schema_id(self, schema_name: str) -> int:
        """Id written in the wire header for :meth:`write_version` of ``schema_name``."""
        cached = self._write_ids.get(schema_name)
        if cached is not None:
            return cached
        version = self.write_version(schema_name)
        schema_id = version.local_id if self._registry is None else self._register(version)
        self._write_ids[schema_name] = schema_id
        return schema_id

    def encode(self, schema_name: str, record: Mapping[str, Any]) -> bytes:
        """Serialize ``record`` with :meth:`write_version` of ``schema_name``.

        Datetimes must be timezone-aware (naive ones are ambiguous and rejected); logical
        timestamp types keep milliseconds or microseconds as documented per field. Fields
        that have a default may be omitted; unknown fields are rejected.
        Raises :class:`InvalidEvent` when the record does not match the schema.
        """
        version = self.write_version(schema_name)
        _reject_naive_datetimes(record, schema_name)
        body = io.BytesIO()
        try:
            schemaless_writer(body, version.parsed, dict(record), strict_allow_default=True)
            # fastavro does not check every value on write (e.g. uuid strings); reading the
            # body back guarantees we never publish what our own consumers must dead-letter.
            body.seek(0)
            schemaless_reader(body, version.parsed, version.parsed)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise InvalidEvent(f"{schema_name} v{version.version}: {exc}") from exc
        return HEADER.pack(MAGIC_BYTE, self.schema_id(schema_name)) + body.getvalue()

    def decode(self, data: bytes | None) -> DecodedEvent:
        """Parse a wire-format payload into the latest shape of its schema.

        Raises a subclass of :class:`UndecodableEvent` for a payload that can never be
        decoded, :class:`SchemaRegistryUnavailable` when the registry cannot be asked.
        """
        if data is None or len(data) < HEADER.size:
            size = 0 if data is None else len(data)
            raise TruncatedPayload(f"payload of {size} bytes is shorter than the 5-byte header")
        magic, schema_id = HEADER.unpack_from(data)
        if magic != MAGIC_BYTE:
            raise BadMagicByte(f"magic byte is {magic & 0xFF:#04x}, expected 0x00")
        writer, writer_schema = self._writer(schema_id)
        reader = self.catalog.latest(writer.name)
        body = io.BytesIO(memoryview(data)[HEADER.size :])
        try:
            record = schemaless_reader(body, writer_schema, reader.parsed)
        except EOFError as exc:
            raise TruncatedPayload(
                f"{writer.name} v{writer.version} (schema id {schema_id}): body ends early: {exc}"
            ) from exc
        except SchemaResolutionError as exc:
            raise IncompatibleSchema(
                f"{writer.name} v{writer.version} (schema id {schema_id}) cannot be read as "
                f"v{reader.version}: {exc}"
            ) from exc
        except (ValueError, TypeError, IndexError, KeyError, OverflowError) as exc:
            # fastavro reports bad UTF-8, bad union/enum indexes etc. with these builtins.
            raise MalformedPayload(
                f"{writer.name} v{writer.version} (schema id {schema_id}): invalid body: {exc}"
            ) from exc
        trailing = len(data) - HEADER.size - body.tell()
        if trailing:
            raise MalformedPayload(
                f"{writer.name} v{writer.version} (schema id {schema_id}): {trailing} bytes "
                "after the end of the record"
            )
        if not isinstance(record, dict):
            raise MalformedPayload(f"schema id {schema_id} did not decode to a record")
        return DecodedEvent(writer.name, schema_id, _uuids_to_str(record), writer.version)

    def _writer(self, schema_id: int) -> tuple[SchemaVersion, dict[str, Any]]:
        """The catalog version and parsed writer schema for ``schema_id`` (cached)."""
        cached = self._writers_by_id.get(schema_id)
        if cached is not None:
            return cached
        version = self.catalog.by_local_id(schema_id)
        found: tuple[SchemaVersion, dict[str, Any]] | None = None
        if version is not None:
            # Local ids (bit 30 set) never meet registry ids, so data written before a
            # registry was introduced stays readable without asking it.
            found = (version, version.parsed)
        elif self._registry is not None:
            found = self._lookup_registry(schema_id)
        if found is None:
            where = "the Schema Registry or the catalog" if self._registry else "the catalog"
            raise UnknownSchemaId(f"schema id {schema_id} is not in {where}")
        self._writers_by_id[schema_id] = found
        return found

    def _register(self, version: SchemaVersion) -> int:
        from confluent_kafka.schema_registry import Schema
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        assert self._registry is not None
        try:
            return int(
                self._registry.register_schema(version.fullname, Schema(version.schema_str, "AVRO"))
            )
        except SchemaRegistryError as exc:
            raise SchemaRegistryUnavailable(
                f"cannot register {version.fullname} v{version.version}: {exc}"
            ) from exc
        except Exception as exc:  # httpx transport errors and the like
            raise SchemaRegistryUnavailable(
                f"Schema Registry unreachable while registering {version.fullname}: {exc}"
            ) from exc

    def _lookup_registry(self, schema_id: int) -> tuple[SchemaVersion, dict[str, Any]] | None:
        """Writer schema for a registry id, or None when the registry does not know the id."""
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        assert self._registry is not None
        try:
            registered = self._registry.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                return None
            raise SchemaRegistryUnavailable(f"schema id {schema_id}: {exc}") from exc
        except Exception as exc:  # httpx transport errors and the like
            raise SchemaRegistryUnavailable(
                f"Schema Registry unreachable while looking up schema id {schema_id}: {exc}"
            ) from exc
        if registered.schema_type not in (None, "AVRO") or registered.schema_str is None:
            raise UnknownSchemaId(f"schema id {schema_id} is a {registered.schema_type} schema")
        definition = json.loads(registered.schema_str)
        fullname = _fullname(definition) if isinstance(definition, dict) else ""
        versions = self.catalog.by_fullname(fullname)
        if not versions:
            raise UnknownSchemaId(f"schema id {schema_id} is {fullname!r}, not a known event")
        writer_schema = parse_schema(definition, {})
        if not isinstance(writer_schema, dict):
            raise UnknownSchemaId(f"schema id {schema_id} is not a record schema")
        # Report the catalog version with the same canonical form, else the newest known:
        # a writer newer than this reader is still resolvable (full compatibility).
        canonical = {v.fingerprint: v for v in versions}
        match = canonical.get(_fingerprint(writer_schema), versions[-1])
        return match, writer_schema


def _new_registry_client(url: str, config: Mapping[str, Any]) -> SchemaRegistryClient:
    try:
        from confluent_kafka.schema_registry import SchemaRegistryClient
    except ImportError as exc:
        raise RuntimeError(
            "schema_registry_url is set but confluent-kafka's Schema Registry support is "
            "missing: install 'confluent-kafka[schemaregistry]'"
        ) from exc
    client: SchemaRegistryClient = SchemaRegistryClient.new_client({**config, "url": url})
    return client


def _fullname(definition: Mapping[str, Any]) -> str:
    name = str(definition.get("name", ""))
    namespace = definition.get("namespace")
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _fingerprint(parsed: dict[str, Any]) -> str:
    from fastavro.schema import fingerprint, to_parsing_canonical_form

    return str(fingerprint(to_parsing_canonical_form(parsed), "SHA-256"))


def _reject_naive_datetimes(value: Any, where: str) -> None:
    # fastavro silently treats naive datetimes as UTC; a naive local time would shift the
    # observation time by the host's UTC offset, so refuse them here.
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidEvent(f"{where}: naive datetime {value!r}; give an aware (UTC) datetime")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _reject_naive_datetimes(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _reject_naive_datetimes(item, f"{where}[{index}]")


def _uuids_to_str(value: Any) -> Any:
    # fastavro returns uuid.UUID for the uuid logical type; the contract hands out str.
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {key: _uuids_to_str(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_uuids_to_str(item) for item in value]
    return value
