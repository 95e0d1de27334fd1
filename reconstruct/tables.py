"""Tables reconstruction keeps beside the ledger: its jobs. Not evidence; can be dropped."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Integer, Text
from sqlmodel import Field, SQLModel

__all__ = ["JobItemRow", "JobRow", "TABLES"]

_ID = BigInteger().with_variant(Integer(), "sqlite")


class JobRow(SQLModel, table=True):
    """A ``reconstruct --all`` run: what was asked, against which checkpoint, how it went."""

    __tablename__ = "reconstruct_job"
    id: int | None = Field(default=None, primary_key=True, sa_type=_ID)
    out_dir: str = Field(sa_type=Text, index=True)
    parameters: str = Field(sa_type=Text)  # JSON: format, sign, policy
    tree_size: int = Field(sa_type=BigInteger)
    checkpoint: str = Field(sa_type=Text)  # the signed note every report is proved against
    status: str = Field(sa_type=Text)  # running | done
    total: int = Field(sa_type=BigInteger, default=0)
    counts: str = Field(sa_type=Text, default="{}")  # JSON, filled in when done
    started_at: str = Field(sa_type=Text)
    finished_at: str | None = Field(default=None, sa_type=Text)


class JobItemRow(SQLModel, table=True):
    """One workspace of a job, recorded once its report file is in place."""

    __tablename__ = "reconstruct_job_item"
    job_id: int = Field(primary_key=True, sa_type=_ID, sa_column_kwargs={"autoincrement": False})
    workspace: str = Field(primary_key=True, sa_type=Text)
    recreatable: bool = Field(sa_type=Boolean)
    findings: str = Field(sa_type=Text)  # JSON: {code: count}
    worst: str | None = Field(default=None, sa_type=Text)  # highest severity found
    path: str = Field(sa_type=Text)  # the report file, relative to the job's directory
    error: str | None = Field(default=None, sa_type=Text)  # why there is no report
    done_at: str = Field(sa_type=Text)


TABLES = [JobRow.__table__, JobItemRow.__table__]  # type: ignore[attr-defined]
