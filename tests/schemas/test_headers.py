"""Message headers: content type, event id, producer version."""

from __future__ import annotations

from dsa110_stream import __version__
from schemas.headers import EventHeaders, content_type, event_headers, parse_headers


def test_event_headers_carry_content_type_event_id_and_version():
    headers = event_headers("SubbandFile", "3f1c2a9e-8b7d-4e65-a1f0-2b9c6d4e8a17")
    assert dict(headers) == {
        "content-type": b"application/vnd.dsa110.subbandfile+avro; wire=confluent",
        "event-id": b"3f1c2a9e-8b7d-4e65-a1f0-2b9c6d4e8a17",
        "producer-version": __version__.encode(),
    }
    assert all(isinstance(v, bytes) for _, v in headers)


def test_parse_headers_round_trips_and_tolerates_absence():
    parsed = parse_headers(event_headers("DeadLetter", "e1", producer_version="9.9"))
    assert parsed == EventHeaders(content_type("DeadLetter"), "e1", "9.9")
    assert parsed.schema_name_lower == "deadletter"
    assert parse_headers(None) == EventHeaders(None, None, None)
    odd = parse_headers([("content-type", b"text/plain"), ("event-id", None), ("x", b"\xff")])
    assert odd.schema_name_lower is None and odd.event_id is None
