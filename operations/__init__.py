"""Operator commands: ``status`` (what is the consumer doing?) and ``replay`` (offset resets)."""
