"""Collectors that turn what real systems emit into normalized events (issue: ingest)."""
