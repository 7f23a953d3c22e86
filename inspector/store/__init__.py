"""On-disk storage: atomic writes, projects, the inspection log."""
