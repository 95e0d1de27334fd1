"""The one interface every report format implements.

A format turns one or several workspaces' reports into the bytes of one file;
the CLI and the dashboard pick a format by ``name`` and name the file with ``suffix``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from reconstruct.model import Report

__all__ = ["Format"]


class Format(ABC):
    """Renders reports into one file of a given format."""

    name: ClassVar[str]  # what the user types: "json", "md", "html", ...
    suffix: ClassVar[str]  # file name suffix, with its dot
    media_type: ClassVar[str]  # for HTTP downloads (dashboard)

    @abstractmethod
    def render(self, reports: Sequence[Report]) -> bytes:
        """One file holding every report of ``reports``, in their order."""
