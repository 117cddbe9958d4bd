"""``top_k_smallest``: the block-wise ``argmin`` search gives what a stable sort of every row gives."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from xinyidai.scorecard import top_k_smallest

#: Few distinct values, so that ties (resolved by column order) are common.
_VALUES = st.sampled_from([-150.0, -20.0, -20.0, -0.5, 0.0, 0.0, 3.0, 1e-12, -1e-12])


@settings(max_examples=200, deadline=None)
@given(
    matrix=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40), elements=_VALUES),
    k=st.integers(1, 5),
    fortran=st.booleans(),
)
def test_top_k_is_a_stable_sort_prefix(matrix: np.ndarray, k: int, fortran: bool) -> None:
    source = np.asfortranarray(matrix) if fortran else matrix
    order, top = top_k_smallest(source, k)
    expected = np.argsort(matrix, axis=1, kind="stable")[:, : min(k, matrix.shape[1])]
    assert np.array_equal(order, expected)
    assert np.array_equal(top, np.take_along_axis(matrix, expected, axis=1))


@settings(max_examples=200, deadline=None)
@given(
    matrix=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=30), elements=_VALUES),
    k=st.integers(1, 4),
)
def test_top_k_with_a_ceiling_and_columns(matrix: np.ndarray, k: int) -> None:
    columns = np.arange(matrix.shape[1])[::-2].copy()
    order, top = top_k_smallest(matrix, k, columns=columns, ceiling=0.0)
    chosen = np.minimum(matrix[:, columns], 0.0)
    expected = np.argsort(chosen, axis=1, kind="stable")[:, : min(k, len(columns))]
    values = np.take_along_axis(chosen, expected, axis=1)
    below = values < 0.0
    # Below the ceiling: the same positions and values; at it, the value is the ceiling (the position is moot).
    assert np.array_equal(np.where(below, order, -1), np.where(below, expected, -1))
    assert np.array_equal(top, values)


def test_top_k_spans_many_blocks() -> None:
    rng = np.random.default_rng(5)
    matrix = np.asfortranarray(rng.integers(-4, 2, size=(70_001, 9)).astype(np.float64))
    order, top = top_k_smallest(matrix, 3)
    expected = np.argsort(matrix, axis=1, kind="stable")[:, :3]
    assert np.array_equal(order, expected)
    assert np.array_equal(top, np.take_along_axis(matrix, expected, axis=1))
