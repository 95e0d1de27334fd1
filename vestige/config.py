"""Where the ledger lives: ``--home``/``VESTIGE_HOME`` and ``--db``/``VESTIGE_DB``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ledger import Ledger, Store

DEFAULT_HOME = Path(".vestige")


@dataclass(frozen=True)
class Config:
    home: Path
    db: str

    @classmethod
    def resolve(cls, home: Path | None, db: str | None) -> Config:
        home = home or Path(os.environ.get("VESTIGE_HOME") or DEFAULT_HOME)
        db = db or os.environ.get("VESTIGE_DB") or str(home / "ledger.db")
        return cls(home, db)

    def ledger(self) -> Ledger:
        return Ledger(Store(self.db), self.home)
