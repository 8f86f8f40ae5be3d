"""Producer: watches an ingest directory and publishes one event per complete subband file."""
