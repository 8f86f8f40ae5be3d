"""Simulator: writes DSA-110 dumps exactly in the correlator's layout, with a truth file."""
