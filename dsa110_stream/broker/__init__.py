"""A local Apache Kafka (KRaft, single node, loopback) for development, tests and demos."""
