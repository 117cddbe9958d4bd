"""The platform's signature on authorization artefacts: compact JWS with EdDSA (Ed25519) or SM2 with SM3 (国密).

A bank or department verifies an artefact offline with `verify_jws(token, jwks)` and the key set the
platform publishes at `GET /api/v1/consent/keys` (RFC 7517 JWK Set). Ed25519 follows RFC 8037
(`kty=OKP`, `crv=Ed25519`, `alg=EdDSA`). SM2 has no IANA-registered JOSE algorithm: here it is
`alg=SM2SM3` — SM2 signature (GB/T 32918.2) over SM3 with the default signer id `1234567812345678`
(GB/T 35276), the key as `kty=EC`, `crv=SM2`, `x`, `y`, and the signature as the 64 bytes r‖s (like
ES256 in RFC 7518 §3.4). See docs/adr/0010-consent-artefact-signing.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Protocol

import gmalg  # type: ignore[import-untyped]
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from xinyidai.config import Environment, Settings
from xinyidai.kernel.errors import InvalidInput
from xinyidai.kernel.jsontext import canonical_json

log = logging.getLogger("xinyidai.consent")

#: JWS `typ` of an authorization artefact, and of a signed status notice (pause, revocation, expiry …).
ARTEFACT_TYPE = "xinyidai-authorization+jwt"
NOTICE_TYPE = "xinyidai-authorization-status+jwt"

#: The signer id SM2 binds into its digest (Z_A) when none is agreed: GB/T 35276-2017's default.
SM2_DEFAULT_UID = b"1234567812345678"
#: Order n of the SM2 curve's base point (GB/T 32918.5).
SM2_ORDER = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_7203DF6B_21C6052B_53BBF409_39D54123


class SigningAlgorithm(StrEnum):
    """The signature algorithms a deployment may choose for its artefacts."""

    EDDSA = "EdDSA"
    SM2_SM3 = "SM2SM3"


class SignatureInvalid(InvalidInput):
    """A token that does not verify: malformed, unknown key, wrong algorithm or type, or a bad signature."""

    code: ClassVar[str] = "signature_invalid"
    title: ClassVar[str] = "签名验证失败"


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of `b64url`; refuses padding and characters outside the alphabet."""
    if "=" in text or not all(c.isalnum() or c in "-_" for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 thumbprint (SHA-256 over the required members), used as the key id."""
    required = ("crv", "kty", "x") if jwk.get("kty") == "OKP" else ("crv", "kty", "x", "y")
    members = {k: jwk[k] for k in required}
    return b64url(hashlib.sha256(canonical_json(members)).digest())


class SigningKey(Protocol):
    """A private key that signs artefacts."""

    @property
    def algorithm(self) -> SigningAlgorithm:
        """The JWS algorithm."""
        ...

    def public_jwk(self) -> dict[str, str]:
        """The public key as a JWK (without kid, alg, use)."""
        ...

    def sign(self, data: bytes) -> bytes:
        """The signature over `data`."""
        ...

    def private_bytes(self) -> bytes:
        """The 32-byte private key (to store in settings)."""
        ...


class Ed25519Key:
    """An Ed25519 private key (RFC 8032), signing as JWS `EdDSA` (RFC 8037)."""

    algorithm = SigningAlgorithm.EDDSA

    def __init__(self, private: bytes) -> None:
        if len(private) != 32:
            raise ValueError("an Ed25519 private key is 32 bytes")
        self._key = Ed25519PrivateKey.from_private_bytes(private)

    @classmethod
    def generate(cls) -> Ed25519Key:
        """A new random key."""
        return cls(Ed25519PrivateKey.generate().private_bytes_raw())

    def private_bytes(self) -> bytes:
        """The 32-byte seed."""
        return self._key.private_bytes_raw()

    def public_jwk(self) -> dict[str, str]:
        """`{"kty": "OKP", "crv": "Ed25519", "x": …}`."""
        raw = self._key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}

    def sign(self, data: bytes) -> bytes:
        """A 64-byte Ed25519 signature."""
        return self._key.sign(data)


class Sm2Key:
    """An SM2 private key (GB/T 32918), signing SM3 digests as JWS `SM2SM3`; pure Python (gmalg)."""

    algorithm = SigningAlgorithm.SM2_SM3

    def __init__(self, private: bytes, *, uid: bytes = SM2_DEFAULT_UID) -> None:
        if len(private) != 32:
            raise ValueError("an SM2 private key is 32 bytes")
        scalar = int.from_bytes(private, "big")
        if not 1 <= scalar <= SM2_ORDER - 2:
            raise ValueError("SM2 private key out of range [1, n-2]")
        self._private = private
        self._uid = uid
        self._sm2 = gmalg.SM2(private, uid)
        public = self._sm2.generate_pk(private)
        self._sm2 = gmalg.SM2(private, uid, public)
        self._x, self._y = public[1:33], public[33:65]

    @classmethod
    def generate(cls) -> Sm2Key:
        """A new random key."""
        private, _public = gmalg.SM2().generate_keypair()
        return cls(int.from_bytes(private, "big").to_bytes(32, "big"))

    def private_bytes(self) -> bytes:
        """The 32-byte private scalar."""
        return self._private

    def public_jwk(self) -> dict[str, str]:
        """`{"kty": "EC", "crv": "SM2", "x": …, "y": …}`."""
        return {"kty": "EC", "crv": "SM2", "x": b64url(self._x), "y": b64url(self._y)}

    def sign(self, data: bytes) -> bytes:
        """r‖s, 32 bytes each, of an SM2 signature over SM3(Z_A ‖ data)."""
        r, s = self._sm2.sign(data)
        return int.from_bytes(r, "big").to_bytes(32, "big") + int.from_bytes(s, "big").to_bytes(32, "big")


def key_from_private(algorithm: SigningAlgorithm, private: bytes) -> SigningKey:
    """The signing key of `algorithm` from its 32 private bytes."""
    if algorithm is SigningAlgorithm.EDDSA:
        return Ed25519Key(private)
    return Sm2Key(private)


def generate_key(algorithm: SigningAlgorithm) -> SigningKey:
    """A new random key of `algorithm`."""
    return Ed25519Key.generate() if algorithm is SigningAlgorithm.EDDSA else Sm2Key.generate()


def derive_private(secret: str, algorithm: SigningAlgorithm) -> bytes:
    """A private key derived from the platform secret with HKDF-SHA256 (development and test only)."""
    info = f"xinyidai consent artefact signing key/{algorithm.value}".encode()
    raw = HKDF(algorithm=SHA256(), length=32, salt=b"xinyidai-consent", info=info).derive(secret.encode())
    if algorithm is SigningAlgorithm.SM2_SM3:
        raw = (int.from_bytes(raw, "big") % (SM2_ORDER - 2) + 1).to_bytes(32, "big")
    return raw


def _verify_signature(jwk: Mapping[str, Any], algorithm: str, data: bytes, signature: bytes) -> bool:
    if algorithm == SigningAlgorithm.EDDSA and jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
        try:
            Ed25519PublicKey.from_public_bytes(b64url_decode(str(jwk["x"]))).verify(signature, data)
        except (InvalidSignature, ValueError):
            return False
        return True
    if algorithm == SigningAlgorithm.SM2_SM3 and jwk.get("kty") == "EC" and jwk.get("crv") == "SM2":
        if len(signature) != 64:
            return False
        x, y = b64url_decode(str(jwk["x"])), b64url_decode(str(jwk["y"]))
        if len(x) != 32 or len(y) != 32:
            return False
        public = b"\x04" + x + y
        verifier = gmalg.SM2(uid=SM2_DEFAULT_UID, pk=public)
        if not verifier.verify_pk(public):
            return False
        return bool(verifier.verify(data, signature[:32], signature[32:]))
    return False


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """A token whose signature verified: its protected header and its payload."""

    header: dict[str, Any]
    payload: dict[str, Any]


def _keys_of(jwks: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if isinstance(jwks, Mapping):
        keys = jwks.get("keys", [])
        return [k for k in keys if isinstance(k, Mapping)] if isinstance(keys, list) else []
    return list(jwks)


def verify_jws(
    token: str, jwks: Mapping[str, Any] | Sequence[Mapping[str, Any]], *, expected_type: str | None = ARTEFACT_TYPE
) -> VerifiedToken:
    """Verify a compact JWS against a published key set, offline; raise SignatureInvalid unless it holds.

    The key is chosen by the header's `kid` and must state the same `alg` as the header (no
    algorithm confusion, no `none`). `expected_type` guards against taking a status notice for an
    artefact. This checks the signature only: whether the authorization is in force now is a
    separate question (`exp`, and the status at POST /api/v1/authorizations/verify).
    """
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise SignatureInvalid("不是紧凑格式的 JWS")
    try:
        header = json.loads(b64url_decode(parts[0]))
        payload_bytes = b64url_decode(parts[1])
        signature = b64url_decode(parts[2])
    except ValueError as exc:
        raise SignatureInvalid("JWS 编码错误") from exc
    if not isinstance(header, dict):
        raise SignatureInvalid("JWS 头部不是对象")
    algorithm = header.get("alg")
    if algorithm not in {a.value for a in SigningAlgorithm}:
        raise SignatureInvalid(f"不支持的签名算法 {algorithm!r}")
    if header.get("crit"):
        raise SignatureInvalid("不支持 crit 头部参数")
    if expected_type is not None and header.get("typ") != expected_type:
        raise SignatureInvalid(f"JWS 类型应为 {expected_type}")
    kid = header.get("kid")
    key = next((k for k in _keys_of(jwks) if k.get("kid") == kid), None)
    if key is None:
        raise SignatureInvalid(f"未知的签名密钥 {kid!r}")
    if key.get("alg", algorithm) != algorithm:
        raise SignatureInvalid("签名算法与密钥不符")
    if not _verify_signature(key, str(algorithm), f"{parts[0]}.{parts[1]}".encode("ascii"), signature):
        raise SignatureInvalid("签名不正确：内容被改动或并非平台签发")
    try:
        payload = json.loads(payload_bytes)
    except ValueError as exc:
        raise SignatureInvalid("JWS 内容不是 JSON") from exc
    if not isinstance(payload, dict):
        raise SignatureInvalid("JWS 内容不是对象")
    return VerifiedToken(header, payload)


class Keyring:
    """The platform's current signing key and every public key it still publishes (retired ones verify old artefacts)."""

    def __init__(self, key: SigningKey, *, retired: Sequence[Mapping[str, Any]] = ()) -> None:
        self.key = key
        public = key.public_jwk()
        self.kid = jwk_thumbprint(public)
        self._current = {**public, "kid": self.kid, "alg": key.algorithm.value, "use": "sig"}
        self._retired = [dict(k) for k in retired if k.get("kid") != self.kid]

    @property
    def algorithm(self) -> SigningAlgorithm:
        """The algorithm new artefacts are signed with."""
        return self.key.algorithm

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The JWK Set to publish: the current key first, then retired ones."""
        return {"keys": [dict(self._current), *(dict(k) for k in self._retired)]}

    def sign(self, payload: Mapping[str, Any], *, typ: str) -> str:
        """A compact JWS over the canonical JSON of `payload`."""
        header = {"alg": self.key.algorithm.value, "kid": self.kid, "typ": typ}
        signing_input = f"{b64url(canonical_json(header))}.{b64url(canonical_json(payload))}"
        return f"{signing_input}.{b64url(self.key.sign(signing_input.encode('ascii')))}"

    def verify(self, token: str, *, expected_type: str | None = ARTEFACT_TYPE) -> VerifiedToken:
        """`verify_jws` against this keyring's published keys."""
        return verify_jws(token, self.jwks(), expected_type=expected_type)


class ConsentKeyMissing(RuntimeError):
    """Production needs an explicit signing key: a key derived from another secret would change with it."""


def _setting(settings: Settings, name: str, default: Any) -> Any:
    # The consent settings are proposed for config.Settings (see the README); until they exist the defaults apply.
    return getattr(settings, name, default)


def keyring_from_settings(settings: Settings) -> Keyring:
    """Build the keyring from the settings (`consent_signing_algorithm`, `consent_signing_key`, `consent_verify_keys_old`).

    Outside production a missing key is derived from `secret_key` (HKDF, a label of its own), so
    every process of a development or test node signs alike without setup; production refuses to
    sign without an explicit key, since a derived key would change whenever the secret key does.
    """
    algorithm = SigningAlgorithm(str(_setting(settings, "consent_signing_algorithm", SigningAlgorithm.EDDSA.value)))
    configured = _setting(settings, "consent_signing_key", None)
    text = configured.get_secret_value() if hasattr(configured, "get_secret_value") else configured
    if text:
        private = base64.b64decode(str(text).strip(), validate=True)
    elif settings.environment is Environment.PRODUCTION:
        raise ConsentKeyMissing("XINYIDAI_CONSENT_SIGNING_KEY must be set in production")
    else:
        log.info("consent artefacts are signed with a key derived from XINYIDAI_SECRET_KEY (not for production)")
        private = derive_private(settings.secret_key.get_secret_value(), algorithm)
    retired_text = str(_setting(settings, "consent_verify_keys_old", "") or "").strip()
    retired = json.loads(retired_text) if retired_text else []
    if not isinstance(retired, list) or not all(isinstance(k, dict) and "kid" in k and "alg" in k for k in retired):
        raise ValueError("XINYIDAI_CONSENT_VERIFY_KEYS_OLD must be a JSON list of public JWKs with kid and alg")
    return Keyring(key_from_private(algorithm, private), retired=retired)


def same_digest(a: str, b: str) -> bool:
    """Constant-time comparison of two hex digests."""
    return hmac.compare_digest(a.encode(), b.encode())
