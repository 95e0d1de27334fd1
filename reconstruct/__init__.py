"""Reconstruction: link each workspace's events, judge the trail, and report with proof.

Stages: ``correlate`` links a workspace's entries through the catalogue ->
``evidence`` derives its lifecycle, identities and credentials -> ``rules`` turn
that into findings and a verdict -> ``report`` proves every cited entry and signs
-> ``formats`` render; ``jobs`` runs every workspace as a resumable job. Nothing
here writes the ledger.
"""

from reconstruct.catalog import Catalog, workspaces_naming
from reconstruct.evidence import Evidence, LinkedEvent
from reconstruct.formats import FORMATS, Format
from reconstruct.jobs import JobStore, JobSummary, report_name, run_all
from reconstruct.model import Code, Finding, Report, Severity, Verdict, code_counts
from reconstruct.policy import Policy, default_policy, load_policy
from reconstruct.report import (
    Assessment,
    ReportInvalid,
    assess,
    assess_workspace,
    build_report,
    report_bytes,
    sign_report,
    verify_report,
)
from reconstruct.rules import judge, unattributed

__all__ = [
    "FORMATS",
    "Assessment",
    "Catalog",
    "Code",
    "Evidence",
    "Finding",
    "Format",
    "JobStore",
    "JobSummary",
    "LinkedEvent",
    "Policy",
    "Report",
    "ReportInvalid",
    "Severity",
    "Verdict",
    "assess",
    "assess_workspace",
    "build_report",
    "code_counts",
    "default_policy",
    "judge",
    "load_policy",
    "report_bytes",
    "report_name",
    "run_all",
    "sign_report",
    "unattributed",
    "verify_report",
    "workspaces_naming",
]
