"""Command-line front end (never imports Qt)."""
