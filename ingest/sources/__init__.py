"""The source registry: every supported format, by its source id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest.interface import Context, Source
from ingest.sources.agent import AgentEvents
from ingest.sources.cloudtrail import CloudTrail
from ingest.sources.gcp_audit import GcpAudit
from ingest.sources.github import GitHubWebhook
from ingest.sources.github_audit import GitHubAudit
from ingest.sources.jira import Jira
from ingest.sources.k8s_audit import K8sAudit
from ingest.sources.okta import Okta
from ingest.sources.vault import Vault

__all__ = ["SOURCES", "detect"]

SOURCES: Mapping[str, Source] = {
    source.name: source
    for source in (
        CloudTrail(),
        GitHubWebhook(),
        GitHubAudit(),
        K8sAudit(),
        Vault(),
        GcpAudit(),
        Jira(),
        Okta(),
        AgentEvents(),
    )
}


def detect(
    record: Mapping[str, Any], context: Context, sources: Mapping[str, Source] = SOURCES
) -> Source | None:
    """The first source whose format ``record`` has (sources are checked in registry order)."""
    for source in sources.values():
        if source.matches(record, context):
            return source
    return None
