"""The bulk forms of the hot path are equal to the one-value forms: ``PiiCipher.encrypt_many`` and the
vectorised USCC check (lookup tables and array arithmetic) on valid and near-valid codes."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyidai.ingest import frames
from xinyidai.kernel import uscc as uscc_rules
from xinyidai.kernel.pii import CipherSuite, DecryptionFailed, PiiCipher, parse_token, sm4_gcm_available
from xinyidai.kernel.uscc import ALPHABET, make_uscc

CONTEXT = "ingest_record.pii"
SUITES = [CipherSuite.AES_256_GCM, *([CipherSuite.SM4_GCM] if sm4_gcm_available() else [])]


@pytest.mark.parametrize("suite", SUITES)
@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.text(max_size=60)), max_size=30))
def test_encrypt_many_decrypts_to_the_same_values(suite: CipherSuite, values: list[str | None]) -> None:
    cipher = PiiCipher(key=b"\x07" * 32, key_id="k1", suite=suite)
    sealed = cipher.encrypt_many(values, context=CONTEXT)
    assert len(sealed) == len(values)
    assert [None if t is None else cipher.decrypt(t, context=CONTEXT) for t in sealed] == values
    tokens = [t for t in sealed if t is not None]
    assert all(cipher.is_current(t) for t in tokens)
    # Every value has its own nonce: equal plaintexts never give equal ciphertexts.
    assert len({parse_token(t)[2][:16] for t in tokens}) == len(tokens)


def test_encrypt_many_binds_the_context() -> None:
    cipher = PiiCipher(key=b"\x07" * 32, key_id="k1")
    (token,) = cipher.encrypt_many(["350102198001011234"], context=CONTEXT)
    assert token is not None
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(token, context="other.column")
    assert cipher.encrypt_many([], context=CONTEXT) == []


_bodies = st.text(alphabet=ALPHABET, min_size=8, max_size=8)
_valid = st.builds(
    make_uscc,
    st.sampled_from(sorted(uscc_rules.ORG_TYPES))
    .flatmap(lambda a: st.tuples(st.just(a), st.sampled_from(sorted(uscc_rules.ORG_TYPES[a]))))
    .map(lambda t: t[0]),
    st.just("1"),
    st.sampled_from(["350102", "110101", "440305", "990000"]),
    _bodies,
)


def _mutate(code: str, position: int, char: str) -> str:
    return code[:position] + char + code[position + 1 :]


@settings(max_examples=60, deadline=None)
@given(
    codes=st.lists(
        st.one_of(
            _valid,
            st.builds(_mutate, _valid, st.integers(0, 17), st.sampled_from(ALPHABET + "IOSVZa ")),
            st.text(alphabet=ALPHABET, min_size=17, max_size=19),
            st.none(),
        ),
        max_size=25,
    )
)
def test_vectorised_check_equals_the_kernel_on_near_valid_codes(codes: list[str | None]) -> None:
    got = frames.uscc_valid(pl.Series(codes, dtype=pl.String)).to_list()
    assert got == [None if c is None else uscc_rules.validate(c).valid for c in codes]
