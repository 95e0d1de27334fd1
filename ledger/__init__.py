"""The vestige ledger: hash-chained, Merkle-proved, signed audit entries.

Public surface for the CLI, ingest, reconstruction and the dashboard.
"""

from ledger.canonical import canonicalize, parse_json_object
from ledger.checkpoint import Checkpoint
from ledger.erasure import Erasure, Tombstone, parse_erasure
from ledger.errors import InputError, IntegrityError, VestigeError
from ledger.ledger import (
    DEFAULT_BATCH,
    AppendResult,
    ConsistencyProof,
    ErasureResult,
    InclusionProof,
    Ledger,
    Record,
)
from ledger.note import Signer, Verifier
from ledger.proofs import ProofCheck, verify_inclusion_proof
from ledger.store import Store
from ledger.verify import VerifyResult

__all__ = [
    "DEFAULT_BATCH",
    "AppendResult",
    "Checkpoint",
    "Erasure",
    "ConsistencyProof",
    "ErasureResult",
    "InclusionProof",
    "InputError",
    "ProofCheck",
    "IntegrityError",
    "Ledger",
    "Record",
    "Signer",
    "Store",
    "Tombstone",
    "Verifier",
    "VerifyResult",
    "VestigeError",
    "canonicalize",
    "parse_erasure",
    "parse_json_object",
    "verify_inclusion_proof",
]
