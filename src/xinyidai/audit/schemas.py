"""Pydantic I/O models of the access-trail API: checkpoints, the verification key, proofs (hashes in hex)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class CheckpointRead(BaseModel):
    """A signed tree head, as published and as kept by outsiders (`xinyidai audit verify --checkpoint`)."""

    origin: str = Field(description="Log identity: xinyidai/<node id>/audit (also the signing key's name).")
    node_id: str
    tree_size: int = Field(description="Number of audit events the tree covers (events 1…tree_size).")
    root_hash: str = Field(description="RFC 6962 Merkle tree hash, hex.")
    timestamp: str = Field(description="Signing time, UTC.")
    key_name: str
    key_id: str = Field(description="Signed-note key id (4 bytes, hex).")
    signature: str = Field(description="Ed25519 signature of the checkpoint text, base64.")
    note: str = Field(description="The C2SP signed note: checkpoint text, blank line, signature line.")


class VerificationKeyRead(BaseModel):
    """The platform's public checkpoint key and the retired keys older checkpoints may carry."""

    algorithm: str
    origin: str
    key_name: str
    key_id: str
    public_key: str = Field(description="32-byte Ed25519 public key, base64.")
    public_key_pem: str
    verifier_key: str = Field(description="Signed-note verifier key: <name>+<key id>+<base64(0x01 || key)>.")
    retired: list[str]


class InclusionProofRead(BaseModel):
    """An event's audit path to a signed root; verify offline with the fields alone."""

    event_id: str
    seq: int
    leaf_index: int
    tree_size: int
    root_hash: str
    leaf_hash: str = Field(description="SHA-256(0x00 || leaf_input), hex.")
    leaf_input: str = Field(description="The event's canonical bytes, base64.")
    event: dict[str, Any] = Field(description="leaf_input decoded, for reading.")
    proof: list[str] = Field(description="PATH(leaf_index, D[tree_size]) per RFC 6962 §2.1.1, hex, leaf side first.")
    checkpoint: CheckpointRead
    verified: bool = Field(description="Checked by the platform: trusted signature and the path leads to the root.")
    algorithm: str


class ConsistencyProofRead(BaseModel):
    """PROOF(first, D[second]) per RFC 6962 §2.1.2 between two tree sizes."""

    first: int
    second: int
    first_root: str
    second_root: str
    proof: list[str]
    first_checkpoint: CheckpointRead | None
    second_checkpoint: CheckpointRead | None
    verified: bool
