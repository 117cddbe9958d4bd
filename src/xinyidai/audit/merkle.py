"""RFC 6962 Merkle tree hash, audit paths and consistency proofs, as pure functions (RFC 6962 §2.1).

Functions here take *leaf hashes* (``leaf_hash(entry)``), not raw entries, so that the same code
serves a list in memory and hashes kept in the database. The proofs are defined over *ranges* of
leaves: `inclusion_ranges` and `consistency_ranges` say which subtrees a proof is made of, and a
caller computes each subtree's hash from whatever it holds (`tree_hash` of a slice in memory, or
the stored perfect subtrees returned by `perfect_subtrees`). Verification follows RFC 9162
§2.1.3.2 and §2.1.4.2, which spell out the client algorithms RFC 6962 leaves implicit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
#: MTH({}) = SHA-256() — the hash of an empty tree.
EMPTY_ROOT = hashlib.sha256(b"").digest()

#: A perfect subtree: (level, index) covers leaves [index·2^level, (index+1)·2^level).
Node = tuple[int, int]
#: A run of leaves [start, end).
Range = tuple[int, int]


def leaf_hash(entry: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """k, the largest power of two smaller than n (n ≥ 2), where RFC 6962 splits a tree of n leaves."""
    if n < 2:
        raise ValueError("a tree of fewer than two leaves does not split")
    return 1 << ((n - 1).bit_length() - 1)


class Frontier:
    """The right edge of a growing tree: the perfect subtrees its leaves make up so far, largest first.

    Appending a leaf merges equal-sized subtrees as a binary counter carries, so a tree of n leaves
    is held in at most log2(n)+1 hashes and every hash is computed once. `append` returns the perfect
    subtrees it completed, which is what the platform stores to answer proofs without rereading leaves.
    """

    __slots__ = ("_nodes", "size")

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        levels = [level for level in range(size.bit_length() - 1, -1, -1) if size >> level & 1]
        if len(levels) != len(nodes):
            raise ValueError(f"a tree of {size} leaves has {len(levels)} frontier subtrees, got {len(nodes)}")
        self.size = size
        self._nodes: list[tuple[int, bytes]] = list(zip(levels, nodes, strict=True))

    @staticmethod
    def coordinates(size: int) -> list[Node]:
        """The (level, index) of each frontier subtree of a tree of `size` leaves, largest first."""
        return [(level, (size >> level) - 1) for level in range(size.bit_length() - 1, -1, -1) if size >> level & 1]

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return the (level, index, hash) of every perfect subtree it completed, leaf first."""
        completed = [(0, self.size, leaf)]
        self.size += 1
        level, value = 0, leaf
        while self._nodes and self._nodes[-1][0] == level:
            _, left = self._nodes.pop()
            value = node_hash(left, value)
            level += 1
            completed.append((level, (self.size >> level) - 1, value))
        self._nodes.append((level, value))
        return completed

    def root(self) -> bytes:
        """MTH of the leaves appended so far."""
        if not self._nodes:
            return EMPTY_ROOT
        value = self._nodes[-1][1]
        for _, left in reversed(self._nodes[:-1]):
            value = node_hash(left, value)
        return value

    def copy(self) -> Frontier:
        """An independent copy."""
        return Frontier(self.size, [h for _, h in self._nodes])


def tree_hash(leaf_hashes: Iterable[bytes]) -> bytes:
    """MTH(D[n]) from the leaves' hashes, in one pass with O(log n) memory."""
    frontier = Frontier()
    for leaf in leaf_hashes:
        frontier.append(leaf)
    return frontier.root()


def perfect_subtrees(start: int, end: int) -> list[Node]:
    """The perfect subtrees whose right fold is MTH(D[start:end]), left to right.

    Holds for every range a proof of RFC 6962 is made of: `start` is then a multiple of a power of
    two at least as large as the range, so each block of the range's binary decomposition is aligned.
    """
    if not 0 <= start < end:
        raise ValueError(f"empty or negative range [{start}, {end})")
    nodes: list[Node] = []
    at, remaining = start, end - start
    for level in range(remaining.bit_length() - 1, -1, -1):
        if remaining >> level & 1:
            if at % (1 << level):
                raise ValueError(f"range [{start}, {end}) is not aligned to RFC 6962 subtrees")
            nodes.append((level, at >> level))
            at += 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """Right fold of perfect-subtree hashes (largest first) into the hash of their range."""
    value = hashes[-1]
    for left in reversed(hashes[:-1]):
        value = node_hash(left, value)
    return value


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The subtrees of PATH(m, D[n]) (RFC 6962 §2.1.1), from the leaf's sibling up to the root's child."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    ranges: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))  # PATH(m, D[0:k]) : MTH(D[k:n])
            hi = lo + k
        else:
            ranges.append((lo, lo + k))  # PATH(m - k, D[k:n]) : MTH(D[0:k])
            lo += k
    ranges.reverse()
    return ranges


def consistency_ranges(first: int, second: int) -> list[Range]:
    """The subtrees of PROOF(m, D[n]) = SUBPROOF(m, D[n], true) (RFC 6962 §2.1.2); empty when m = n."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from {first} to {second} leaves")
    ranges: list[Range] = []
    lo, hi, m, whole = 0, second, first, True
    while hi - lo != m:
        k = split_point(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            hi = lo + k
        else:
            ranges.append((lo, lo + k))  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            lo += k
            m -= k
            whole = False
    if not whole:
        ranges.append((lo, hi))  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
    ranges.reverse()
    return ranges


def _proof(ranges: list[Range], leaf_hashes: Sequence[bytes]) -> list[bytes]:
    return [tree_hash(leaf_hashes[a:b]) for a, b in ranges]


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]) over all n leaves given (O(n); the stored tree answers in O(log n))."""
    return _proof(inclusion_ranges(index, len(leaf_hashes)), leaf_hashes)


def consistency_proof(first: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(first, D[n]) over all n leaves given."""
    return _proof(consistency_ranges(first, len(leaf_hashes)), leaf_hashes)


def proof_from_nodes(ranges: Sequence[Range], node: Callable[[Node], bytes]) -> list[bytes]:
    """A proof's hashes from stored perfect subtrees; `node` returns the hash of one (level, index)."""
    return [fold([node(n) for n in perfect_subtrees(a, b)]) for a, b in ranges]


def nodes_needed(ranges: Iterable[Range]) -> set[Node]:
    """Every perfect subtree `proof_from_nodes` will ask for."""
    return {n for a, b in ranges for n in perfect_subtrees(a, b)}


def _shift_until_set(fn: int, sn: int) -> tuple[int, int]:
    while fn and not fn & 1:
        fn >>= 1
        sn >>= 1
    return fn, sn


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes | None:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2), or None when the proof cannot fit."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                fn, sn = _shift_until_set(fn, sn)
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """Whether `proof` shows that the leaf hash `leaf` is leaf `index` of the tree of `size` leaves with `root`."""
    return root_from_inclusion(leaf, index, size, proof) == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> bool:
    """Whether `proof` shows that the tree of `first` leaves is a prefix of the tree of `second` (RFC 9162 §2.1.4.2)."""
    if first < 0 or second < first:
        return False
    if first == 0:
        return not proof and first_root == EMPTY_ROOT
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the old root is itself a node of the new tree
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                fn, sn = _shift_until_set(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
