"""Converter: the subband files of one dump → one CASA Measurement Set. Imports nothing from Kafka."""
