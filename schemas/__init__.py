"""The event contract shared by producer, consumer and downstream calibration.

Avro schemas (``schemas/avro``), their wire encoding (:mod:`schemas.codec`), message
headers (:mod:`schemas.headers`) and the topics that carry them (:mod:`schemas.topics`).
See ``schemas/README.md``.
"""
