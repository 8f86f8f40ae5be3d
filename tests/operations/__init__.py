"""Tests of the operator commands (status, replay) against the real broker."""
