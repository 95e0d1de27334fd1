"""Workspace timelines, gap rules and signed reports (issue: reconstruction)."""
