"""Metrics and the seeds' evaluation protocols."""
