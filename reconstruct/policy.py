"""The reconstruction policy: severities, the high-risk and tampering catalogues, collectors.

Defaults live in ``reconstruct/policy.toml`` (shipped, documented there). A user file
given with ``--policy`` replaces the tables it names. The effective policy is copied
into every report, so ``verify-report`` re-runs the rules with the same one.
"""

from __future__ import annotations

import tomllib
from fnmatch import fnmatchcase
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ledger import InputError
from reconstruct.model import Code, Severity

__all__ = ["HighRisk", "Policy", "Tampering", "matches", "load_policy", "default_policy"]


def matches(patterns: list[str], value: str | None) -> bool:
    """Shell-style glob match of ``value`` (None as "") against any pattern."""
    return any(fnmatchcase(value or "", pattern) for pattern in patterns)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HighRisk(_Frozen):
    """One entry of the high-risk catalogue (UNAPPROVED_HIGH_RISK_ACTION)."""

    kind: Literal["privilege_escalation", "secret_read", "data_export", "production_change"]
    system: str
    actions: list[str]
    resources: list[str] = Field(default_factory=lambda: ["*"])
    environments: list[str] = Field(default_factory=list)  # GitHub deployments only


class Tampering(_Frozen):
    actions: list[str]  # "system:action" globs
    trail_buckets: list[str]


_WEEK: Final = 7 * 24 * 3600
Seconds = Annotated[int, Field(ge=1, le=_WEEK)]


class Policy(_Frozen):
    severity: dict[Code, Severity]
    teardown_grace_seconds: int = Field(ge=0, le=_WEEK)
    systems: dict[str, list[str]]
    max_gap_seconds: dict[str, Seconds]
    tampering: Tampering
    sensitive_resources: list[str]
    high_risk: list[HighRisk]

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, document: object) -> Policy:
        try:
            return cls.model_validate(document)
        except ValidationError as exc:
            raise InputError(f"policy is invalid: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(step) for step in error["loc"]) or "policy"
    return f"{where}: {error['msg']}"


def _defaults() -> dict[str, Any]:
    text = resources.files("reconstruct").joinpath("policy.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def default_policy() -> Policy:
    return Policy.from_json(_defaults())


def load_policy(path: Path | None) -> Policy:
    """The default policy, with the top-level tables and values of ``path`` replacing it."""
    document = _defaults()
    if path is not None:
        try:
            user = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"cannot read the policy file {path}: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"the policy file {path} is not valid TOML: {exc}") from None
        # Severities are merged code by code: a file that lowers one keeps the rest.
        severity = {**document["severity"], **user.pop("severity", {})}
        document = {**document, **user, "severity": severity}
    return Policy.from_json(document)
