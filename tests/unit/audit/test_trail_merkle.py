"""RFC 6962 Merkle tree: MTH, PATH and PROOF against a naive reference written from the RFC text, and CT's vectors."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyidai.audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_proof,
    consistency_ranges,
    inclusion_proof,
    leaf_hash,
    nodes_needed,
    perfect_subtrees,
    proof_from_nodes,
    root_from_inclusion,
    tree_hash,
    verify_consistency,
    verify_inclusion,
)

# --- the reference: RFC 6962 §2.1, transcribed literally over the entries themselves ------------------


def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


entries_st = st.lists(st.binary(max_size=12), min_size=1, max_size=40, unique=True)  # distinct leaves: a swap must show


def _leaves(entries: list[bytes]) -> list[bytes]:
    return [leaf_hash(e) for e in entries]


# --- properties ------------------------------------------------------------------------------------


@given(entries=st.lists(st.binary(max_size=12), max_size=70))
def test_tree_hash_is_the_reference_mth(entries: list[bytes]) -> None:
    assert tree_hash(_leaves(entries)) == ref_mth(entries)


@settings(max_examples=60, deadline=None)
@given(entries=entries_st)
def test_every_inclusion_proof_is_the_reference_path_and_verifies(entries: list[bytes]) -> None:
    leaves = _leaves(entries)
    n = len(leaves)
    root = ref_mth(entries)
    for m in range(n):
        proof = inclusion_proof(m, leaves)
        assert proof == ref_path(m, entries)
        assert verify_inclusion(leaves[m], m, n, proof, root)
        # Any other leaf or position fails (the size is bound by the signed checkpoint, not by the path).
        assert not verify_inclusion(leaves[m], m, n, proof[:-1] if proof else [root], root)
        assert not verify_inclusion(leaf_hash(entries[m] + b"x"), m, n, proof, root)
        if n > 1:
            assert not verify_inclusion(leaves[m], (m + 1) % n, n, proof, root)


@settings(max_examples=40, deadline=None)
@given(entries=entries_st)
def test_every_consistency_proof_is_the_reference_proof_and_verifies(entries: list[bytes]) -> None:
    leaves = _leaves(entries)
    n = len(leaves)
    roots = [ref_mth(entries[:i]) for i in range(n + 1)]
    for second in range(1, n + 1):
        for first in range(1, second + 1):
            proof = consistency_proof(first, leaves[:second])
            if first < second:
                assert proof == ref_proof(first, entries[:second])
            else:
                assert proof == []
            assert verify_consistency(first, second, roots[first], roots[second], proof)
            if first < second:
                assert not verify_consistency(first, second, roots[first], roots[second - 1] if second > 1 else b"", proof)
                assert not verify_consistency(first, second, leaf_hash(b"forged"), roots[second], proof)


@settings(max_examples=60, deadline=None)
@given(entries=entries_st, data=st.data())
def test_any_changed_proof_hash_fails(entries: list[bytes], data: st.DataObject) -> None:
    leaves = _leaves(entries)
    n = len(leaves)
    m = data.draw(st.integers(0, n - 1))
    proof = inclusion_proof(m, leaves)
    root = tree_hash(leaves)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
        assert not verify_inclusion(leaves[m], m, n, bad, root)
        assert not verify_inclusion(leaves[m], m, n, proof[:-1], root)
        assert not verify_inclusion(leaves[m], m, n, [*proof, root], root)
    if n > 1:
        first = data.draw(st.integers(1, n - 1))
        cproof = consistency_proof(first, leaves)
        i = data.draw(st.integers(0, len(cproof) - 1))
        bad = list(cproof)
        bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
        assert not verify_consistency(first, n, tree_hash(leaves[:first]), root, bad)


@given(entries=st.lists(st.binary(max_size=8), max_size=70))
def test_the_frontier_stores_every_perfect_subtree_and_answers_proofs_from_them(entries: list[bytes]) -> None:
    leaves = _leaves(entries)
    frontier = Frontier()
    stored: dict[tuple[int, int], bytes] = {}
    for i, leaf in enumerate(leaves):
        for level, position, value in frontier.append(leaf):
            assert (level, position) not in stored
            stored[(level, position)] = value
            assert value == tree_hash(leaves[position << level : (position + 1) << level])
        assert frontier.root() == tree_hash(leaves[: i + 1])
        # Rebuilt from the stored right edge alone, the frontier goes on identically.
        coords = Frontier.coordinates(i + 1)
        assert Frontier(i + 1, [stored[c] for c in coords]).root() == frontier.root()
    n = len(leaves)
    for m in range(n):
        from xinyidai.audit.merkle import inclusion_ranges

        ranges = inclusion_ranges(m, n)
        assert nodes_needed(ranges) <= set(stored)
        assert proof_from_nodes(ranges, stored.__getitem__) == inclusion_proof(m, leaves)
    for first in range(1, n + 1):
        ranges = consistency_ranges(first, n)
        assert proof_from_nodes(ranges, stored.__getitem__) == consistency_proof(first, leaves)


# --- known answers (certificate-transparency / Trillian test vectors) ------------------------------

CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    bytes(range(0x60, 0x70)),
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_roots_match_the_certificate_transparency_vectors() -> None:
    assert EMPTY_ROOT.hex() == CT_ROOTS[0]
    for n in range(len(CT_LEAVES) + 1):
        assert tree_hash(_leaves(CT_LEAVES[:n])).hex() == CT_ROOTS[n]


@pytest.mark.parametrize(
    ("index", "path"),
    [
        (
            0,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ],
)
def test_inclusion_paths_match_the_vectors(index: int, path: list[str]) -> None:
    leaves = _leaves(CT_LEAVES)
    assert [h.hex() for h in inclusion_proof(index, leaves)] == path
    assert root_from_inclusion(leaves[index], index, 8, [bytes.fromhex(h) for h in path]) == bytes.fromhex(CT_ROOTS[8])


@pytest.mark.parametrize(
    ("first", "second", "proof"),
    [
        (1, 1, []),
        (
            1,
            8,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ],
)
def test_consistency_proofs_match_the_vectors(first: int, second: int, proof: list[str]) -> None:
    leaves = _leaves(CT_LEAVES[:second])
    assert [h.hex() for h in consistency_proof(first, leaves)] == proof
    roots = [bytes.fromhex(r) for r in CT_ROOTS]
    assert verify_consistency(first, second, roots[first], roots[second], [bytes.fromhex(h) for h in proof])


def test_degenerate_inputs_are_refused_or_rejected() -> None:
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_proof(3, _leaves(CT_LEAVES[:3]))
    with pytest.raises(ValueError, match="no consistency proof"):
        consistency_ranges(0, 3)
    with pytest.raises(ValueError, match="not aligned"):
        perfect_subtrees(1, 3)
    assert verify_consistency(0, 5, EMPTY_ROOT, b"anything", [])
    assert not verify_consistency(3, 2, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_inclusion(leaf_hash(b""), 0, 0, [], EMPTY_ROOT)
