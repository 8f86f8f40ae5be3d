"""Consumer: aggregates the subband events of each group, converts, and emits MS-ready events."""
