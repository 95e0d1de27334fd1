"""Deterministic CloudTrail records in the published shape, for the demo, tests and benchmarks.

Field names, nesting and id formats follow the CloudTrail record contents reference
(eventVersion 1.09): an agent's assumed-role session making S3, STS and Secrets
Manager calls. Every record differs (eventID, time, key, request parameters).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["cloudtrail_records"]

_CALLS = (
    ("s3.amazonaws.com", "GetObject", True),
    ("s3.amazonaws.com", "PutObject", False),
    ("sts.amazonaws.com", "GetCallerIdentity", True),
    ("secretsmanager.amazonaws.com", "GetSecretValue", True),
    ("ec2.amazonaws.com", "DescribeInstances", True),
)


def cloudtrail_records(
    count: int, seed: int = 1, account: str = "123456789012"
) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)  # noqa: S311  # sample data, not secrets
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    for n in range(count):
        source, name, read_only = _CALLS[n % len(_CALLS)]
        workspace = f"ws-{n // 50:05d}"
        ticket = f"SEC-{1000 + n // 50}"
        session = f"agent-{ticket}-{workspace}"
        key = f"ASIA{rng.getrandbits(80):020X}"[:20]
        when = start + timedelta(milliseconds=250 * n)
        bucket = f"{workspace}-artifacts"
        parameters: dict[str, Any] = {
            "bucketName": bucket,
            "key": f"build/{n}.tar.gz",
            "Host": f"{bucket}.s3.us-east-1.amazonaws.com",
        }
        if source == "secretsmanager.amazonaws.com":
            parameters = {
                "secretId": f"arn:aws:secretsmanager:us-east-1:{account}:secret:{workspace}-db"
            }
        elif source != "s3.amazonaws.com":
            parameters = {}
        yield {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "AssumedRole",
                "principalId": f"AROA{rng.getrandbits(64):016X}:{session}",
                "arn": f"arn:aws:sts::{account}:assumed-role/agent-runner/{session}",
                "accountId": account,
                "accessKeyId": key,
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "principalId": "AROAEXAMPLEROLEID0001",
                        "arn": f"arn:aws:iam::{account}:role/agent-runner",
                        "accountId": account,
                        "userName": "agent-runner",
                    },
                    "attributes": {
                        "creationDate": (when - timedelta(minutes=5)).strftime(
                            "%Y-%m-%dT%H:%M:%SZ"
                        ),
                        "mfaAuthenticated": "false",
                    },
                    "sourceIdentity": f"spiffe://corp.example/agent/{workspace}",
                },
            },
            "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": source,
            "eventName": name,
            "awsRegion": "us-east-1",
            "sourceIPAddress": f"10.{n % 250}.{(n // 250) % 250}.{n % 7 + 1}",
            "userAgent": "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux",
            "requestParameters": parameters,
            "responseElements": None,
            "additionalEventData": {"bytesTransferredIn": 0, "bytesTransferredOut": 512 + n % 4096},
            "requestID": f"{rng.getrandbits(64):016X}",
            "eventID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "readOnly": read_only,
            "resources": [
                {"accountId": account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}
            ]
            if source == "s3.amazonaws.com"
            else [],
            "eventType": "AwsApiCall",
            "managementEvent": source != "s3.amazonaws.com",
            "recipientAccountId": account,
            "eventCategory": "Management" if source != "s3.amazonaws.com" else "Data",
            "tlsDetails": {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": f"{source.split('.')[0]}.us-east-1.amazonaws.com",
            },
        }
