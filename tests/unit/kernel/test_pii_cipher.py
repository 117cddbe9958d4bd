"""Personal-data cipher: AES-256-GCM and SM4-GCM round trips, old keys, wrong key or context, stable digests."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from xinyidai.kernel.pii import (
    CipherSuite,
    DecryptionFailed,
    EncryptedColumn,
    PiiCipher,
    PiiError,
    UnknownKey,
    cipher_from_settings,
    parse_key_ring,
    parse_token,
)

K1 = b"\x01" * 32
K2 = b"\x02" * 32
SUITES = [CipherSuite.AES_256_GCM, CipherSuite.SM4_GCM]


@pytest.mark.parametrize("suite", SUITES)
@given(text=st.text(max_size=40))
def test_round_trip(suite: CipherSuite, text: str) -> None:
    cipher = PiiCipher(key=K1, key_id="k1", suite=suite)
    token = cipher.encrypt(text, context="subject.legal_rep_id")
    assert token.startswith(cipher.header)
    assert cipher.decrypt(token, context="subject.legal_rep_id") == text


@pytest.mark.parametrize("suite", SUITES)
def test_wrong_context_wrong_key_and_altered_values_fail(suite: CipherSuite) -> None:
    cipher = PiiCipher(key=K1, key_id="k1", suite=suite)
    token = cipher.encrypt("35010219800101123X", context="subject.legal_rep_id")
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(token, context="app_user.phone")
    impostor = PiiCipher(key=K2, key_id="k1", suite=suite)  # same id, different key
    with pytest.raises(DecryptionFailed):
        impostor.decrypt(token, context="subject.legal_rep_id")
    version, kid, body = token.split(":", 2)
    raw = bytearray(base64.b64decode(body))
    raw[-1] ^= 1
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(f"{version}:{kid}:{base64.b64encode(bytes(raw)).decode()}", context="subject.legal_rep_id")
    with pytest.raises(UnknownKey):
        PiiCipher(key=K2, key_id="k2").decrypt(token, context="subject.legal_rep_id")
    with pytest.raises(PiiError):
        cipher.decrypt("v9:k1:AAAA", context="subject.legal_rep_id")


def test_values_written_before_rotation_and_before_sm4_stay_readable() -> None:
    old = PiiCipher(key=K1, key_id="k1")
    legacy = old.encrypt("13912345678", context="app_user.phone")
    assert legacy.startswith("v1:k1:")  # the format every existing value has
    sm4_k2 = PiiCipher(key=K2, key_id="k2", old_keys={"k1": K1}, suite="sm4-gcm")
    assert sm4_k2.decrypt(legacy, context="app_user.phone") == "13912345678"
    fresh = sm4_k2.encrypt("13912345678", context="app_user.phone")
    assert parse_token(fresh)[:2] == (CipherSuite.SM4_GCM, "k2")
    assert sm4_k2.is_current(fresh)
    assert not sm4_k2.is_current(legacy)


def test_sm4_gcm_matches_the_rfc_8998_vector() -> None:
    # RFC 8998 Appendix A.1 — proves the OpenSSL SM4-GCM we call is the standard one.
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    iv = bytes.fromhex("00001234567800000000ABCD")
    aad = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    plain = bytes.fromhex("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD" * 1)
    plain += bytes.fromhex("EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA")
    from xinyidai.kernel.pii import _sm4_seal

    sealed = _sm4_seal(key, iv, plain, aad)
    assert sealed[:-16].hex().upper() == (
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
        "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
    )
    assert sealed[-16:].hex().upper() == "83DE3541E4C2B58177E065A9BF7B62EC"
    # and the same through cryptography's generic Cipher API, decrypting
    dec = Cipher(algorithms.SM4(key), modes.GCM(iv, sealed[-16:])).decryptor()
    dec.authenticate_additional_data(aad)
    assert dec.update(sealed[:-16]) + dec.finalize() == plain


def test_digests_survive_rotation_when_pinned_to_the_first_key() -> None:
    first = PiiCipher(key=K1, key_id="k1")
    rotated = PiiCipher(key=K2, key_id="k2", old_keys={"k1": K1}, digest_key=K1)
    assert rotated.digest_pinned
    assert not first.digest_pinned
    assert rotated.digest(" 35010219800101123x ") == first.digest("35010219800101123X")
    unpinned = PiiCipher(key=K2, key_id="k2", old_keys={"k1": K1})
    assert unpinned.digest("35010219800101123X") != first.digest("35010219800101123X")


def test_keys_are_checked() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        PiiCipher(key=b"short", key_id="k1")
    with pytest.raises(ValueError, match="bad key id"):
        PiiCipher(key=K1, key_id="k:1")
    with pytest.raises(ValueError, match="two different keys"):
        PiiCipher(key=K1, key_id="k1", old_keys={"k1": K2})
    with pytest.raises(ValueError, match="des"):
        PiiCipher(key=K1, key_id="k1", suite="des")


def test_key_rings_parse_from_json_or_pairs() -> None:
    b1 = base64.b64encode(K1).decode()
    b2 = base64.b64encode(K2).decode()
    assert parse_key_ring(f'{{"k1": "{b1}"}}') == {"k1": K1}
    assert parse_key_ring(f"k1:{b1}, k0:{b2}\n") == {"k1": K1, "k0": K2}
    assert parse_key_ring("") == {}
    with pytest.raises(ValueError, match="32-byte"):
        parse_key_ring("k1:" + base64.b64encode(b"x").decode())
    with pytest.raises(ValueError, match="<key id>:<base64 key>"):
        parse_key_ring("k1")


def test_cipher_from_settings_reads_the_proposed_settings_with_defaults() -> None:
    from types import SimpleNamespace

    b1, b2 = base64.b64encode(K1).decode(), base64.b64encode(K2).decode()
    plain = cipher_from_settings(SimpleNamespace(data_key=SecretStr(b1), data_key_id="k1"))
    assert plain.suite is CipherSuite.AES_256_GCM
    assert plain.key_ids() == ["k1"]
    full = cipher_from_settings(
        SimpleNamespace(
            data_key=SecretStr(b2),
            data_key_id="k2",
            data_keys_old=SecretStr(f"k1:{b1}"),
            data_cipher="sm4-gcm",
            data_digest_key=SecretStr(b1),
        )
    )
    assert full.suite is CipherSuite.SM4_GCM
    assert full.key_ids() == ["k1", "k2"]
    assert full.digest_pinned
    assert full.digest("x") == plain.digest("x")


def test_encrypted_columns_refuse_bad_identifiers() -> None:
    col = EncryptedColumn("subject", "id", "legal_rep_id_enc", "subject.legal_rep_id", digest_column="legal_rep_id_digest")
    assert col.name == "subject.legal_rep_id_enc"
    with pytest.raises(ValueError, match="identifier"):
        EncryptedColumn("subject; drop table x", "id", "c", "ctx")
