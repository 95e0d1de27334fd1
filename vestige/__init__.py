"""vestige: the composition root (CLI and configuration)."""

__version__ = "0.1.0"
