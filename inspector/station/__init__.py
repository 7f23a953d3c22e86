"""The station: part sources, outputs and the run loop of an inspection line (Qt-free)."""
