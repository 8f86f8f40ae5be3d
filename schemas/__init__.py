"""The event contract shared by producer, consumer and downstream calibration: Avro schemas, encoding, topics."""
